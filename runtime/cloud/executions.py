"""Submitting, following, cancelling and listing a deployed environment's executions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime.cloud.errors import CloudError, ExecutionExistsError, ExecutionNotFoundError
from runtime.cloud.history import (
    batch_job_failure,
    batch_job_id,
    current_step,
    failed_step,
    job_exit_code,
    newest_events,
)
from runtime.cloud.requests import execution_input
from runtime.cloud.stack import DeployedEnvironment
from runtime.exit_codes import EXIT_CODES, EXIT_SUCCEEDED, EXIT_TERMINATED, Failure
from runtime.steps.failure import explained

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

CANCEL_ERROR = "Cancelled"
# The errors with which Prepare refuses a request (runtime/errors.py): the request's fault.
REQUEST_ERRORS = frozenset({"SpecError", "PlanError", "ConfigError"})
FINISHED_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True)
class ExecutionStatus:
    execution_id: str
    execution_arn: str
    state: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE
    started: datetime
    stopped: datetime | None
    current_step: str | None
    failed_step: str | None
    batch_job_id: str | None
    error: str | None
    cause: str | None
    redrive_count: int = 0  # times `demand retry` (RedriveExecution) resumed it
    # Step Functions' word on whether it can be redriven now: REDRIVABLE, NOT_REDRIVABLE.
    redrive_status: str | None = None
    # How it ended (docs/cli.md's table): None while it runs.
    failure: Failure | None = None
    exit_code: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


def outcome(
    state: str, error: str | None, events: list[Mapping[str, Any]]
) -> tuple[Failure | None, int | None]:
    """The kind of failure and the exit code of an execution in ``state``; (None, None) while
    it runs. The job's own exit code when its Batch job failed."""
    if state == "SUCCEEDED":
        return None, EXIT_SUCCEEDED
    if state in ("TIMED_OUT", "ABORTED"):
        return "interrupted", EXIT_TERMINATED
    if state != "FAILED":
        return None, None
    job = batch_job_failure(events)
    if job is not None:
        code = job_exit_code(job)
        if code is None or code == 0:
            return "start", EXIT_CODES["start"]
        return "job", code
    if error in REQUEST_ERRORS:
        return "request", EXIT_CODES["request"]
    return "staging", EXIT_CODES["staging"]


@dataclass(frozen=True)
class ExecutionSummary:
    execution_id: str
    state: str
    started: datetime
    stopped: datetime | None


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _describe(
    environment: DeployedEnvironment, execution_id: str, stepfunctions: SFNClient
) -> Mapping[str, Any]:
    try:
        return stepfunctions.describe_execution(
            executionArn=environment.execution_arn(execution_id)
        )
    except ClientError as exc:
        if _error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            raise ExecutionNotFoundError(
                f"no execution {execution_id!r} in environment {environment.name!r}"
            ) from None
        raise


def submit_execution(
    environment: DeployedEnvironment,
    spec: Mapping[str, Any],
    stepfunctions: SFNClient,
    s3: S3Client | None = None,
) -> str:
    """Start the state machine on ``{"spec": spec}``, named after the spec's execution id; a
    large spec is stored in the data bucket with ``s3`` and referred to (runtime.cloud.requests).

    An id that was already used is refused — whether that execution is running or finished —
    rather than run twice (and before its stored request is touched). Returns the new
    execution's ARN.
    """
    execution_id = spec.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id:
        raise CloudError("the spec has no execution_id to name its execution after")
    try:
        existing = _describe(environment, execution_id, stepfunctions)
    except ExecutionNotFoundError:
        pass
    else:
        raise ExecutionExistsError(
            f"execution {execution_id!r} already exists in environment {environment.name!r} "
            f"({existing['status']}, started {existing['startDate']:%Y-%m-%d %H:%M:%S %Z}); "
            "give the spec a new execution_id to run it again"
        )
    started_with = execution_input(environment, spec, execution_id, s3)
    try:
        response = stepfunctions.start_execution(
            stateMachineArn=environment.state_machine_arn,
            name=execution_id,
            input=started_with,
        )
    except ClientError as exc:
        if _error_code(exc) == "ExecutionAlreadyExists":  # started meanwhile
            raise ExecutionExistsError(
                f"execution {execution_id!r} already exists in environment {environment.name!r}"
            ) from None
        raise
    return response["executionArn"]


def execution_status(
    environment: DeployedEnvironment, execution_id: str, stepfunctions: SFNClient
) -> ExecutionStatus:
    described = _describe(environment, execution_id, stepfunctions)
    arn = described["executionArn"]
    events = list(newest_events(stepfunctions, arn))
    state = described["status"]
    failure, exit_code = outcome(state, described.get("error"), events)
    error, cause = explained(described.get("error"), described.get("cause"))
    return ExecutionStatus(
        execution_id=execution_id,
        execution_arn=arn,
        state=state,
        started=described["startDate"],
        stopped=described.get("stopDate"),
        current_step=current_step(events),
        failed_step=failed_step(events) if state == "FAILED" else None,
        batch_job_id=batch_job_id(events),
        error=error,
        cause=cause,
        redrive_count=int(described.get("redriveCount", 0)),
        redrive_status=described.get("redriveStatus"),
        failure=failure,
        exit_code=exit_code,
    )


def cancel_execution(
    environment: DeployedEnvironment,
    execution_id: str,
    stepfunctions: SFNClient,
    batch: BatchClient,
) -> str | None:
    """Stop a running execution and terminate its Batch job; the job's id, if it had one.

    Stopping runs no state of the state machine: the environment's rule on aborts cleans up
    (runtime.steps.stopped), 15 minutes later, once no step of the execution can still run.
    """
    described = _describe(environment, execution_id, stepfunctions)
    if described["status"] != "RUNNING":
        raise CloudError(
            f"execution {execution_id!r} is {described['status']}, not running: nothing to cancel"
        )
    job_id = batch_job_id(newest_events(stepfunctions, described["executionArn"]))
    stepfunctions.stop_execution(
        executionArn=described["executionArn"],
        error=CANCEL_ERROR,
        cause="cancelled with 'demand cancel'",
    )
    if job_id is not None:
        batch.terminate_job(
            jobId=job_id, reason=f"demand cancel: execution {execution_id} was stopped"
        )
    return job_id


def list_executions(
    environment: DeployedEnvironment,
    stepfunctions: SFNClient,
    *,
    state: str | None = None,
    limit: int = 20,
) -> list[ExecutionSummary]:
    """The newest executions first, at most ``limit``, optionally only those in ``state``."""
    request: dict[str, Any] = {"stateMachineArn": environment.state_machine_arn}
    if state is not None:
        request["statusFilter"] = state
    summaries: list[ExecutionSummary] = []
    paginator = stepfunctions.get_paginator("list_executions")
    for page in paginator.paginate(**request, PaginationConfig={"PageSize": min(limit, 1000)}):
        for item in page["executions"]:
            summaries.append(
                ExecutionSummary(
                    execution_id=item["name"],
                    state=item["status"],
                    started=item["startDate"],
                    stopped=item.get("stopDate"),
                )
            )
            if len(summaries) >= limit:
                return summaries
    return summaries
