"""Publishes an execution's end to the environment's SNS topic (runtime.steps.notify).

Invoked by the EventBridge rule on the state machine's terminal status changes, not by the
state machine: an execution that is aborted or times out runs no state of its own.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from runtime import contract
from runtime.documents import validate_document
from runtime.errors import ConfigError
from runtime.handlers.aws_clients import aws_client
from runtime.handlers.events import parsed_event
from runtime.handlers.observability import logger
from runtime.handlers.tracing import tracer
from runtime.steps.notify import StatusChangeEvent, notification_of, publish


class NotificationSettings(BaseModel):
    """The notification function's variables."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    environment: str = Field(alias=contract.ENV_ENVIRONMENT, min_length=1)
    topic_arn: str = Field(
        alias=contract.ENV_NOTIFICATION_TOPIC_ARN, pattern=r"^arn:aws[a-z-]*:sns:"
    )

    @classmethod
    def from_environment(cls) -> NotificationSettings:
        return validate_document(cls, dict(os.environ), ConfigError)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@parsed_event(StatusChangeEvent)
def handler(event: StatusChangeEvent, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(execution_id=event.detail.name, status=event.detail.status)
    settings = NotificationSettings.from_environment()
    notification = notification_of(event.detail, settings.environment, aws_client("stepfunctions"))
    if notification is None:
        logger.info("not an end: nothing published")
        return {"published": None}
    message_id = publish(notification, settings.topic_arn, aws_client("sns"))
    logger.info(
        "published", extra={"message_id": message_id, "recipients": len(notification.recipients)}
    )
    return {"published": message_id, "recipients": list(notification.recipients)}
