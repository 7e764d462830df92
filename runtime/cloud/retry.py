"""``demand retry``: resume an execution that did not succeed, from the step where it stopped.

Step Functions' RedriveExecution restarts an execution under the same ARN from its
unsuccessful state; the states that succeeded (a finished stage-in, say) are not run again. No
state of the state machine catches a failure, so the step that failed is the one a redrive runs
again, and its working files are still there: an execution that did not succeed is cleaned up
from outside, ``STOPPED_CLEANUP_DELAY_SECONDS`` after it ended, unless it was redriven by then
(runtime.steps.stopped). That delay is the redrive window (``REDRIVE_WINDOW``).

Before asking, this module checks what makes a redrive impossible or useless and says it in
one line, with what to do instead: an execution still running, one that succeeded, one that
ended more than 14 days ago, one Step Functions itself calls not redrivable (its
``redriveStatusReason``), one that ended longer ago than the redrive window (its working
files, access points and job definition are gone), one whose state machine was redeployed
since it started (a redrive runs the old definition against the new steps), one whose request
Prepare refused (a redrive runs the same request again), and one whose failure an earlier
definition of the state machine already handled — it ran *Cleanup after failure*, which
removes the working files, and ended in the Fail state, which is all a redrive would run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import contract
from runtime.cloud.errors import CloudError, ExecutionNotFoundError
from runtime.cloud.executions import REQUEST_ERRORS
from runtime.cloud.history import entered_states, failed_step, newest_events
from runtime.cloud.stack import DeployedEnvironment

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# Step Functions redrives an execution only within this long after it ended.
REDRIVE_PERIOD = timedelta(days=14)
ENDS_A_REDRIVE_RESUMES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# An execution that failed, was aborted or timed out is cleaned up STOPPED_CLEANUP_DELAY_SECONDS
# after it ended (runtime.steps.stopped), unless it is running again by then: a redrive must
# start before, with a minute to spare.
REDRIVE_WINDOW = timedelta(seconds=contract.STOPPED_CLEANUP_DELAY_SECONDS - 60)
NEW_ID = "submit the spec again under a new execution_id"
# The state that validates and plans the request (infra/constructs/orchestration.py).
PREPARE = "Prepare"


class RetryRefusedError(CloudError):
    """The execution cannot be redriven; the message says why and what to do instead."""


@dataclass(frozen=True)
class Redriven:
    execution_id: str
    execution_arn: str
    redrive_date: datetime
    redrive_count: int  # after this redrive
    resumes_at: str | None  # the step it stopped in


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")).strip()


def redrivable_until(
    state: str, stopped: datetime | None, redrive_status: str | None, error: str | None
) -> datetime | None:
    """Until when ``demand retry`` may redrive an execution that ended so: the end of the
    redrive window, or None where no redrive applies (it succeeded or runs, Step Functions
    says it is not redrivable, or Prepare refused its request)."""
    if state not in contract.UNSUCCESSFUL_STATUSES or stopped is None:
        return None
    if redrive_status == "NOT_REDRIVABLE" or (state == "FAILED" and error in REQUEST_ERRORS):
        return None
    return stopped + REDRIVE_WINDOW


def refusal(
    described: Mapping[str, Any],
    newest_first: list[Mapping[str, Any]],
    *,
    definition_then: Mapping[str, Any] | None,
    definition_now: Mapping[str, Any] | None,
    now: datetime,
) -> str | None:
    """Why this execution cannot usefully be redriven, or None."""
    status = described["status"]
    if status == "RUNNING":
        return "it is still running"
    if status == "PENDING_REDRIVE":
        return "a redrive of it is already starting"
    if status not in ENDS_A_REDRIVE_RESUMES:
        return f"it {status.lower()}; there is nothing to resume"
    stopped = described.get("stopDate")
    if stopped is not None and now - stopped > REDRIVE_PERIOD:
        return (
            f"it ended on {stopped:%Y-%m-%d}, more than 14 days ago (Step Functions redrives "
            f"only within 14 days); {NEW_ID}"
        )
    if described.get("redriveStatus") == "NOT_REDRIVABLE":
        reason = str(described.get("redriveStatusReason") or "no reason given").rstrip(".")
        return f"Step Functions says it is not redrivable: {reason}; {NEW_ID}"
    if status in contract.UNSUCCESSFUL_STATUSES and stopped is not None:
        ago = now - stopped
        if ago > REDRIVE_WINDOW:
            minutes = contract.STOPPED_CLEANUP_DELAY_SECONDS // 60
            return (
                f"it ended ({status}) at {stopped:%Y-%m-%d %H:%M %Z}, {_minutes(ago)} ago, and "
                f"what an execution that did not succeed holds (its working files, access "
                f"points and job definition) is removed {minutes} minutes after it ends; {NEW_ID}"
            )
    if definition_then is not None and definition_now is not None:
        then, current = definition_then.get("revisionId"), definition_now.get("revisionId")
        if then and current and then != current:
            updated = definition_now.get("updateDate") or definition_now.get("creationDate")
            when = f" on {updated:%Y-%m-%d %H:%M %Z}" if isinstance(updated, datetime) else ""
            return (
                f"the state machine was redeployed{when} after it started: a redrive would run "
                f"the old definition against the new steps; {NEW_ID}"
            )
    entered = list(entered_states(newest_first))
    if contract.STATE_CLEANUP_AFTER_FAILURE in entered:
        return (
            f"its failure was already handled: '{contract.STATE_CLEANUP_AFTER_FAILURE}' removed "
            f"its working files and it ended in the '{contract.STATE_FAIL}' state, which is all "
            f"a redrive would run again; {NEW_ID}"
        )
    error = described.get("error")
    if status == "FAILED" and error in REQUEST_ERRORS and entered[:1] == [PREPARE]:
        return (
            f"Prepare refused its request ({error}): a redrive would run the same request "
            f"again; correct the spec and {NEW_ID}"
        )
    return None


def _minutes(elapsed: timedelta) -> str:
    minutes = int(elapsed.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minutes"
    hours = minutes // 60
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def retry_execution(
    environment: DeployedEnvironment,
    execution_id: str,
    stepfunctions: SFNClient,
    *,
    now: datetime | None = None,
) -> Redriven:
    """Redrive the execution, or raise :class:`RetryRefusedError` saying why it cannot be."""
    arn = environment.execution_arn(execution_id)
    try:
        described = stepfunctions.describe_execution(executionArn=arn)
    except ClientError as exc:
        if _code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            raise ExecutionNotFoundError(
                f"no execution {execution_id!r} in environment {environment.name!r}"
            ) from None
        raise
    events = list(newest_events(stepfunctions, arn))
    then = stepfunctions.describe_state_machine_for_execution(executionArn=arn)
    current = stepfunctions.describe_state_machine(stateMachineArn=environment.state_machine_arn)
    reason = refusal(
        described,
        events,
        definition_then=then,
        definition_now=current,
        now=now or datetime.now(UTC),
    )
    if reason is not None:
        raise RetryRefusedError(f"cannot retry {execution_id!r}: {reason}")
    try:
        response = stepfunctions.redrive_execution(executionArn=arn, clientToken=str(uuid.uuid4()))
    except ClientError as exc:
        if _code(exc) == "ExecutionNotRedrivable":
            raise RetryRefusedError(
                f"cannot retry {execution_id!r}: {_message(exc) or 'not redrivable'}; {NEW_ID}"
            ) from None
        if _code(exc) == "ExecutionLimitExceeded":
            raise CloudError(
                f"cannot retry {execution_id!r} now: the account's limit of open executions "
                "is reached; try again when some have ended"
            ) from None
        raise
    return Redriven(
        execution_id=execution_id,
        execution_arn=arn,
        redrive_date=response["redriveDate"],
        redrive_count=int(described.get("redriveCount", 0)) + 1,
        resumes_at=failed_step(events),
    )
