"""Telling people that an execution ended: one SNS message per terminal status change.

An EventBridge rule sends the state machine's ``Step Functions Execution Status Change`` events
for SUCCEEDED, FAILED, TIMED_OUT and ABORTED to the notification function, which publishes one
message to the environment's topic. The message carries the execution id, status, user, error
and cause in its JSON body and as SNS message attributes, so that a subscription's filter policy
can pick what it wants: EventBridge's SNS target cannot set message attributes, hence a Lambda.

The request's ``execution_metadata`` decides who is addressed: ``notify_list`` (addresses or
any endpoint labels) becomes the ``recipients`` attribute, a String.Array that a subscription
filters on (``{"recipients": ["alice@example.org"]}``), but only for the statuses
``notify_on`` asks for. ``notify_on`` takes the established request's statuses (COMPLETED,
FAILED, ABORTED) or Step Functions' own (SUCCEEDED, FAILED, TIMED_OUT, ABORTED); empty, it
means every end. Every end is published even when nobody is addressed, for the subscribers
that follow the whole environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.spec import MAX_RECIPIENTS, ExecutionMetadata
from runtime.steps.failure import explained

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef
    from mypy_boto3_stepfunctions import SFNClient

TerminalStatus = Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
TERMINAL_STATUSES: tuple[TerminalStatus, ...] = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# The established request's name for each end (aibs-informatics-core's Status): it has no
# TIMED_OUT, a timeout is a failure there.
ESTABLISHED_STATUS: Mapping[str, str] = {
    "SUCCEEDED": "COMPLETED",
    "FAILED": "FAILED",
    "TIMED_OUT": "FAILED",
    "ABORTED": "ABORTED",
}
# SNS: a subject is at most 100 printable ASCII characters.
SUBJECT_LIMIT = 100
# The longest user name an attribute carries (notify_list's entries are bounded by the spec).
MAX_TEXT = 256


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of a Step Functions Execution Status Change event (the fields used)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    execution_arn: str = Field(alias="executionArn", min_length=1)
    state_machine_arn: str = Field(alias="stateMachineArn", min_length=1)
    name: str = Field(min_length=1)
    status: str  # the rule sends only the ends; any other is ignored, not an error
    # The execution's input, unless it was left out for size (inputDetails.included false).
    input: str | None = None
    input_details: dict[str, Any] | None = Field(default=None, alias="inputDetails")
    error: str | None = None
    cause: str | None = None
    redrive_count: int = Field(default=0, alias="redriveCount", ge=0)

    @property
    def terminal(self) -> TerminalStatus | None:
        return next((status for status in TERMINAL_STATUSES if status == self.status), None)

    @property
    def input_included(self) -> bool:
        return self.input is not None and (self.input_details or {}).get("included", True)


class StatusChangeEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusChange


@dataclass(frozen=True)
class Requester:
    """Who asked, from the request's ``execution_metadata`` (nothing when it is unreadable)."""

    user: str | None = None
    notify_on: Mapping[str, bool] | None = None
    notify_list: tuple[str, ...] = ()
    problem: str | None = None

    def wants(self, status: str) -> bool:
        """Whether ``notify_on`` asks for this end: a Step Functions status named there wins
        over its established name; an empty ``notify_on`` asks for every end."""
        if not self.notify_on:
            return True
        if status in self.notify_on:
            return bool(self.notify_on[status])
        return bool(self.notify_on.get(ESTABLISHED_STATUS[status], False))


def requester_of(execution_input: str | None) -> Requester:
    """The requester of ``{"spec": {...}}``, leniently: a request that failed Prepare for being
    malformed still ends, and its end is still published (to nobody in particular)."""
    if execution_input is None:
        return Requester(problem="the execution's input is not available")
    try:
        document = json.loads(execution_input)
    except ValueError:
        return Requester(problem="the execution's input is not JSON")
    spec = document.get("spec") if isinstance(document, dict) else None
    if not isinstance(spec, dict):
        return Requester(problem="the execution's input holds no inline spec")
    raw = spec.get("execution_metadata", spec.get("executionMetadata", {}))
    try:
        metadata = ExecutionMetadata.model_validate(raw)
    except ValidationError:
        return Requester(problem="the request's execution_metadata is not valid")
    recipients = tuple(dict.fromkeys(r.strip() for r in metadata.notify_list if r.strip()))
    return Requester(
        user=_bounded(metadata.user) or None if metadata.user else None,
        notify_on={str(status): wanted for status, wanted in metadata.notify_on.items()},
        notify_list=recipients[:MAX_RECIPIENTS],
    )


def _bounded(text: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in text).strip()
    return printable[:MAX_TEXT]


@dataclass(frozen=True)
class Notification:
    """One execution's end, as it is published."""

    environment: str
    execution_id: str
    execution_arn: str
    status: TerminalStatus
    user: str | None
    error: str | None
    cause: str | None
    recipients: tuple[str, ...]
    redrive_count: int
    note: str | None = None

    def subject(self) -> str:
        text = f"demand {self.environment}: {self.execution_id} {self.status}"
        ascii_only = "".join(c if " " <= c <= "~" else "?" for c in text)
        return ascii_only[:SUBJECT_LIMIT]

    def body(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "execution_id": self.execution_id,
            "execution_arn": self.execution_arn,
            "status": self.status,
            "user": self.user,
            "error": self.error,
            "cause": self.cause,
            "recipients": list(self.recipients),
            "redrive_count": self.redrive_count,
            "note": self.note,
        }

    def attributes(self) -> dict[str, MessageAttributeValueTypeDef]:
        """The message attributes: SNS refuses an empty value, so an absent one is left out
        (a filter policy can say ``{"error": [{"exists": false}]}``)."""
        texts = {
            "environment": self.environment,
            "execution_id": self.execution_id,
            "status": self.status,
            "user": self.user,
            "error": self.error,
            "cause": self.cause,
        }
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in texts.items()
            if value
        }
        attributes["redrive_count"] = {
            "DataType": "Number",
            "StringValue": str(self.redrive_count),
        }
        if self.recipients:
            attributes["recipients"] = {
                "DataType": "String.Array",
                "StringValue": json.dumps(list(self.recipients)),
            }
        return attributes


def notification_of(
    change: ExecutionStatusChange, environment: str, stepfunctions: SFNClient | None = None
) -> Notification | None:
    """What to publish for ``change`` (None: not an end); the input is asked of Step Functions
    when the event left it out for size (with ``stepfunctions``)."""
    status = change.terminal
    if status is None:
        return None
    execution_input = change.input if change.input_included else None
    if execution_input is None and stepfunctions is not None:
        described = stepfunctions.describe_execution(executionArn=change.execution_arn)
        execution_input = described.get("input")
    requester = requester_of(execution_input)
    error, cause = explained(change.error or None, change.cause or None)
    return Notification(
        environment=environment,
        execution_id=change.name,
        execution_arn=change.execution_arn,
        status=status,
        user=requester.user,
        error=error,
        cause=cause,
        recipients=requester.notify_list if requester.wants(status) else (),
        redrive_count=change.redrive_count,
        note=requester.problem,
    )


def publish(notification: Notification, topic_arn: str, sns: SNSClient) -> str:
    """Publish one notification; returns the SNS message id."""
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=notification.subject(),
        Message=json.dumps(notification.body(), indent=2),
        MessageAttributes=notification.attributes(),
    )
    return response["MessageId"]
