"""Execution histories as Step Functions records them (moto's are a fixed stub).

Built oldest first, like an execution; ``newest_first`` turns them round as the CLI reads them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class History:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.add("ExecutionStarted", executionStartedEventDetails={"roleArn": "arn:role"})

    def add(self, event_type: str, **details: Any) -> History:
        event_id = len(self.events) + 1
        self.events.append(
            {
                "id": event_id,
                "previousEventId": event_id - 1,
                "timestamp": START + timedelta(seconds=event_id),
                "type": event_type,
                **details,
            }
        )
        return self

    def enter(self, kind: str, name: str) -> History:
        return self.add(f"{kind}StateEntered", stateEnteredEventDetails={"name": name})

    def exit(self, kind: str, name: str) -> History:
        return self.add(f"{kind}StateExited", stateExitedEventDetails={"name": name})

    def lambda_step(self, name: str) -> History:
        self.enter("Task", name)
        self.add(
            "LambdaFunctionScheduled",
            lambdaFunctionScheduledEventDetails={"resource": "arn:aws:lambda:fn"},
        )
        self.add("LambdaFunctionSucceeded", lambdaFunctionSucceededEventDetails={"output": "{}"})
        return self.exit("Task", name)

    def batch_task(self, event_type: str, details_key: str, **fields: Any) -> History:
        return self.add(
            event_type,
            **{details_key: {"resourceType": "batch", "resource": "submitJob.sync", **fields}},
        )

    def newest_first(self) -> list[dict[str, Any]]:
        return list(reversed(self.events))


def _job_document(job_id: str) -> str:
    return json.dumps({"JobArn": f"arn:aws:batch:job/{job_id}", "JobId": job_id, "JobName": "j"})


def running_job(job_id: str = "job-123") -> History:
    """Planned, registered, staged in; the Batch job submitted and running."""
    history = History().lambda_step("Prepare")
    history.enter("Parallel", "Register and stage in").lambda_step("Register")
    history.enter("Map", "Stage in").lambda_step("Sync input").exit("Map", "Stage in")
    history.enter("Choice", "Stage in pending?").enter("Succeed", "Staged in")
    history.exit("Parallel", "Register and stage in")
    history.enter("Task", "Run job")
    history.batch_task("TaskScheduled", "taskScheduledEventDetails", parameters="{}")
    history.batch_task("TaskStarted", "taskStartedEventDetails")
    return history.batch_task(
        "TaskSubmitted", "taskSubmittedEventDetails", output=_job_document(job_id)
    )


def _job_failed(job_id: str) -> History:
    history = running_job(job_id)
    return history.batch_task(
        "TaskFailed",
        "taskFailedEventDetails",
        error="States.TaskFailed",
        cause=json.dumps({"JobId": job_id, "Status": "FAILED", "StatusReason": "exit 3"}),
    )


def job_failed(job_id: str = "job-123") -> History:
    """The Batch job failed, and with it the execution (no state catches a failure)."""
    return _job_failed(job_id).add(
        "ExecutionFailed",
        executionFailedEventDetails={"error": "States.TaskFailed", "cause": "exit 3"},
    )


def prepare_refused(error: str = "SpecError") -> History:
    """Prepare refused the request: its Lambda failed, and with it the execution."""
    history = History().enter("Task", "Prepare")
    history.add(
        "LambdaFunctionScheduled",
        lambdaFunctionScheduledEventDetails={"resource": "arn:aws:lambda:fn"},
    )
    history.add("LambdaFunctionFailed", lambdaFunctionFailedEventDetails={"error": error})
    return history.add("ExecutionFailed", executionFailedEventDetails={"error": error})


def failed_job(job_id: str = "job-123") -> History:
    """The Batch job failed, under the state machine's earlier definition: cleanup for
    failures, then the Fail state."""
    history = _job_failed(job_id)
    history.lambda_step("Cleanup after failure").enter("Fail", "Fail")
    return history.add(
        "ExecutionFailed",
        executionFailedEventDetails={"error": "States.TaskFailed", "cause": "exit 3"},
    )


def preparing() -> History:
    return History().enter("Task", "Prepare")
