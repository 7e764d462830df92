"""An execution failed, aborted or timed out: stop its job now, clean up later, unless it was
redriven since (runtime.steps.stopped).

Invoked by the environment's EventBridge rule on the state machine's FAILED, ABORTED and
TIMED_OUT status changes, in two shapes: the event itself, at once (terminate the execution's
Batch job), and the same event in an SQS message, delivered ``STOPPED_CLEANUP_DELAY_SECONDS``
later (clean up what the execution left). Not by the state machine: no state runs after such an end.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, Json, TypeAdapter

from runtime import contract
from runtime.deployment import DeploymentSettings
from runtime.handlers.aws_clients import aws_client
from runtime.handlers.events import parsed_event
from runtime.handlers.observability import logger
from runtime.handlers.tracing import tracer
from runtime.steps.notify import StatusChangeEvent
from runtime.steps.stopped import StoppedOutcome, clean_up_stopped, confirmed_stop, stop_jobs


class QueuedStatusChange(BaseModel):
    """One SQS record whose body is the rule's event, as EventBridge sent it to the queue."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_source: Literal["aws:sqs"] = Field(alias="eventSource")
    body: Json[StatusChangeEvent]


class QueuedStatusChanges(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    records: list[QueuedStatusChange] = Field(alias="Records", min_length=1)


# Either shape: the rule's event itself, or the queue's records of it.
STOPPED_EVENT: TypeAdapter[QueuedStatusChanges | StatusChangeEvent] = TypeAdapter(
    QueuedStatusChanges | StatusChangeEvent
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@parsed_event(STOPPED_EVENT)
def handler(
    event: QueuedStatusChanges | StatusChangeEvent, context: LambdaContext
) -> dict[str, Any]:
    settings = DeploymentSettings.from_environment()
    if isinstance(event, StatusChangeEvent):
        return {"stopped": [_handle(event, settings, clean_up=False)]}
    # The queue hands over one record at a time (batch size 1): an error fails that record,
    # and SQS delivers it again (then to its dead-letter queue).
    return {"cleaned_up": [_handle(r.body, settings, clean_up=True) for r in event.records]}


def _handle(
    event: StatusChangeEvent, settings: DeploymentSettings, *, clean_up: bool
) -> dict[str, Any]:
    change = event.detail
    logger.append_keys(execution_id=change.name, status=change.status)
    state_machine = contract.stack_name(settings.environment)
    stopped = confirmed_stop(change, state_machine, aws_client("stepfunctions"))
    if isinstance(stopped, str):
        outcome = StoppedOutcome(change.name, ignored=stopped)
    elif clean_up:
        outcome = clean_up_stopped(
            stopped,
            volumes=settings.planning().volumes,
            mounts=settings.mounts(),
            batch=aws_client("batch"),
            resources=settings.execution_resources(aws_client("efs"), aws_client("batch")),
        )
    else:
        outcome = stop_jobs(
            stopped,
            volumes=settings.planning().volumes,
            mounts=settings.mounts(),
            batch=aws_client("batch"),
        )
    logger.info("ignored" if outcome.ignored else "handled", extra=asdict(outcome))
    return asdict(outcome)
