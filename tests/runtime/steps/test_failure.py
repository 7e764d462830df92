"""The error an execution's readers show when its job never started."""

from __future__ import annotations

import json

import pytest

from runtime import contract
from runtime.steps.failure import REMEDIES, explained, explained_error
from runtime.steps.notify import ExecutionStatusChange, notification_of


def _batch_failure(status_reason: str) -> dict[str, str]:
    """What submitJob.sync's Catch holds for a failed job: its description as the cause."""
    job = {
        "JobName": "demand-dev_exec-1",
        "JobQueue": "arn:aws:batch:us-west-2:123456789012:job-queue/demand-dev-default",
        "Status": "FAILED",
        "StatusReason": status_reason,
        "Attempts": [],
    }
    return {"Error": "States.TaskFailed", "Cause": json.dumps(job)}


def test_every_reason_a_queue_acts_on_has_a_remedy() -> None:
    assert set(REMEDIES) == set(contract.RUNNABLE_TIME_LIMIT_REASONS)


@pytest.mark.parametrize("reason", sorted(contract.RUNNABLE_TIME_LIMIT_REASONS))
def test_a_job_cancelled_for_not_starting_fails_with_the_reason_and_what_to_change(
    reason: str,
) -> None:
    explained = explained_error(_batch_failure(contract.CANCELLED_BY_TIME_LIMIT + reason))
    assert explained is not None
    assert explained["Error"] == "JobCouldNotStart"
    cause = explained["Cause"]
    assert cause.startswith(
        "the job demand-dev_exec-1 in queue demand-dev-default never started: it stayed "
        f"RUNNABLE ({reason}) for the minutes compute.runnable_time_limits."
        f"{contract.RUNNABLE_TIME_LIMIT_REASONS[reason]} allows"
    )
    assert cause.endswith(REMEDIES[reason])


@pytest.mark.parametrize(
    "status_reason",
    [
        "Cancelled by JobStateTimeLimit action due to reason: "
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
        contract.CANCELLED_BY_TIME_LIMIT + "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - no fit.",
        contract.CANCELLED_BY_TIME_LIMIT + "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT.",
    ],
)
def test_the_reason_is_found_whatever_follows_it(status_reason: str) -> None:
    explained = explained_error(_batch_failure(status_reason))
    assert explained is not None
    assert explained["Error"] == "JobCouldNotStart"
    assert "(MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT)" in explained["Cause"]


@pytest.mark.parametrize(
    "error",
    [
        _batch_failure("Essential container in task exited"),
        _batch_failure(contract.CANCELLED_BY_TIME_LIMIT + "SOMETHING:NEW"),
        _batch_failure(contract.CANCELLED_BY_TIME_LIMIT),
        _batch_failure("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"),  # still waiting: not this
        {"Error": "SpecError", "Cause": "execution_id: bad"},
        {"Error": "States.TaskFailed", "Cause": "{not json"},
        {"Error": "States.TaskFailed", "Cause": "[1, 2]"},
        {"Error": "States.Timeout"},
    ],
)
def test_every_other_error_passes_through_unchanged(error: dict[str, str]) -> None:
    assert explained_error(error) == error
    assert explained_error(None) is None


def test_the_readers_of_an_end_get_the_explanation_as_error_and_cause() -> None:
    """What `demand status`, the report and the notifications show: the execution's own error
    and cause (a step's, since nothing catches a failure), explained when the job never ran."""
    failure = _batch_failure(
        contract.CANCELLED_BY_TIME_LIMIT + "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    )
    error, cause = explained(failure["Error"], failure["Cause"])
    assert error == "JobCouldNotStart"
    assert cause is not None
    assert "(CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY)" in cause
    assert explained("SpecError", "bad") == ("SpecError", "bad")
    assert explained(None, None) == (None, None)


def test_a_notification_of_a_job_that_never_ran_says_why() -> None:
    failure = _batch_failure(
        contract.CANCELLED_BY_TIME_LIMIT + "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    )
    change = ExecutionStatusChange.model_validate(
        {
            "executionArn": "arn:aws:states:us-west-2:123456789012:execution:demand-dev:exec-1",
            "stateMachineArn": "arn:aws:states:us-west-2:123456789012:stateMachine:demand-dev",
            "name": "exec-1",
            "status": "FAILED",
            "input": json.dumps({"spec": {}}),
            "error": failure["Error"],
            "cause": failure["Cause"],
        }
    )
    notification = notification_of(change, "dev")
    assert notification is not None
    assert notification.error == "JobCouldNotStart"
    assert notification.cause is not None
    assert notification.cause.startswith("the job demand-dev_exec-1 in queue demand-dev-default")
