"""Cleaning up after an execution that ended without its cleanup: failed, aborted, or timed out.

No state of the state machine runs after a step fails (no state catches a failure, so that the
execution can be redriven from that step: infra/constructs/orchestration.py), after an abort
(``demand cancel``, the console, StopExecution) or after the state machine's own timeout, so
the environment's EventBridge rule on those status changes calls this twice
(``runtime.contract.UNSUCCESSFUL_STATUSES``): at once, to terminate the execution's Batch job
if it is still queued or running (:func:`stop_jobs`), and again once no Lambda step it started
can still be writing — which is also the window in which ``demand retry`` may redrive it — to
release and remove what it left (:func:`clean_up_stopped`). Both are idempotent: a second
trigger of either finds nothing left.

Nothing here is taken on the event's word. The event names an execution; Step Functions itself
must then say that it is this environment's, that it is still in the status the event gives,
and that it was not redriven since (a redriven execution is RUNNING again, or has a higher
``redriveCount``: that run's own end cleans up, so nothing is removed under it); the
execution's control dir (which no job mounts) must hold the claim its Prepare made for that
same execution ARN; and what is removed is what the stored plan's cleanup asks for,
within the execution's own roots (``clean_up_execution``), never a path from the event or from
anything a job could write.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from runtime import contract
from runtime.errors import translate_client_error
from runtime.plan.models import CleanupRequest, ExecutionPlan
from runtime.spec import EXECUTION_ID_PATTERN
from runtime.steps.access_points import ExecutionResources
from runtime.steps.cleanup import CleanupItem, clean_up_execution
from runtime.steps.notify import ExecutionStatusChange
from runtime.steps.roots import ExecutionRoots
from runtime.steps.workdir import OWNER_FILE, read_plan
from runtime.volumes import EfsMount, VolumeConfiguration, efs_to_local

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_stepfunctions import SFNClient

# Batch job states from which a job may still run (TerminateJob cancels or stops it).
UNFINISHED_JOB_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")


@dataclass(frozen=True)
class StoppedExecution:
    """An execution of this environment's state machine that Step Functions says ended without
    its cleanup (failed, aborted, timed out) and was not redriven since."""

    arn: str
    execution_id: str
    status: str
    started: datetime
    redrive_count: int


@dataclass(frozen=True)
class StoppedOutcome:
    """What one trigger did: ``ignored`` says why it did nothing."""

    execution_id: str
    ignored: str | None = None
    terminated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _machine_name(arn: str, kind: str) -> str | None:
    """The state machine's name in an execution ARN (``kind`` "execution") or a state machine
    ARN (``kind`` "stateMachine"): ``arn:<partition>:states:<region>:<account>:<kind>:<name>…``."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "states" or parts[5] != kind:
        return None
    return parts[6]


def confirmed_stop(
    change: ExecutionStatusChange, state_machine_name: str, stepfunctions: SFNClient
) -> StoppedExecution | str:
    """The execution ``change`` names, once Step Functions confirms that it is this state
    machine's and still ended as the event says (not redriven since); else why it is left
    alone."""
    if change.status not in contract.UNSUCCESSFUL_STATUSES:
        return f"{change.status} is not an end the state machine leaves to this cleanup"
    if (
        _machine_name(change.execution_arn, "execution") != state_machine_name
        or _machine_name(change.state_machine_arn, "stateMachine") != state_machine_name
    ):
        return f"not an execution of {state_machine_name}"
    try:
        described = stepfunctions.describe_execution(executionArn=change.execution_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return "Step Functions knows no such execution"
        raise translate_client_error(exc, f"execution {change.execution_arn}") from exc
    if _machine_name(described["stateMachineArn"], "stateMachine") != state_machine_name:
        return f"not an execution of {state_machine_name}"
    status, redrives = described["status"], int(described.get("redriveCount", 0))
    if status != change.status or redrives != change.redrive_count:
        # Redriven since (RUNNING again, or ended again): that run's own end cleans up.
        return f"it is {status} now (redriven {redrives} time(s)), not {change.status}"
    name = described["name"]
    if not EXECUTION_ID_PATTERN.fullmatch(name):
        return f"{name!r} is not an execution id: its Prepare refused it"
    return StoppedExecution(
        arn=described["executionArn"],
        execution_id=name,
        status=status,
        started=described["startDate"],
        redrive_count=redrives,
    )


def claimed_by(roots: ExecutionRoots, mounts: Sequence[EfsMount]) -> str | None:
    """The execution ARN that claimed these dirs (``claim_execution_dirs``), or None."""
    record = efs_to_local(roots.control, mounts) / OWNER_FILE
    if record.is_symlink() or not record.is_file():
        return None
    return record.read_text(encoding="utf-8", errors="replace")


def _stored_plan(roots: ExecutionRoots, mounts: Sequence[EfsMount]) -> ExecutionPlan | None:
    """The stored plan; None when Prepare stopped before storing it (a corrupt one raises)."""
    if not os.path.lexists(efs_to_local(roots.plan_file, mounts)):
        return None
    return read_plan(roots, mounts)


def _own_claim(
    stopped: StoppedExecution, volumes: VolumeConfiguration, mounts: Sequence[EfsMount]
) -> ExecutionRoots | str:
    roots = ExecutionRoots.of(stopped.execution_id, volumes)
    owner = claimed_by(roots, mounts)
    if owner is None:
        return "no claim in its control dir: cleaned up already, or its Prepare never claimed"
    if owner != stopped.arn:
        return f"its dirs are claimed by another execution ({owner})"
    return roots


def stop_jobs(
    stopped: StoppedExecution,
    *,
    volumes: VolumeConfiguration,
    mounts: Sequence[EfsMount],
    batch: BatchClient,
) -> StoppedOutcome:
    """Terminate the execution's Batch jobs that may still run: those its stored plan names
    (queue and job name), submitted since the execution started."""
    roots = _own_claim(stopped, volumes, mounts)
    if isinstance(roots, str):
        return StoppedOutcome(stopped.execution_id, ignored=roots)
    plan = _stored_plan(roots, mounts)
    if plan is None or plan.job.job_queue is None:
        return StoppedOutcome(stopped.execution_id)  # no plan yet: no job was submitted
    since = int(stopped.started.timestamp() * 1000)
    reason = f"demand: execution {stopped.execution_id} {stopped.status.lower()}"
    terminated: list[str] = []
    try:
        pages = batch.get_paginator("list_jobs").paginate(
            jobQueue=plan.job.job_queue,
            filters=[{"name": "JOB_NAME", "values": [plan.job.job_name]}],
        )
        for page in pages:
            for job in page["jobSummaryList"]:
                unfinished = job.get("status") in UNFINISHED_JOB_STATES
                if unfinished and job.get("createdAt", 0) >= since:
                    batch.terminate_job(jobId=job["jobId"], reason=reason[:1024])
                    terminated.append(job["jobId"])
    except ClientError as exc:
        if _no_such_queue(exc):
            # The request named a queue that does not exist: no job of it was ever submitted
            # (Run job fails), and the cleanup must not wait for one.
            return StoppedOutcome(stopped.execution_id)
        raise translate_client_error(exc, f"the Batch jobs of {stopped.execution_id}") from exc
    return StoppedOutcome(stopped.execution_id, terminated=terminated)


def _no_such_queue(error: ClientError) -> bool:
    details = error.response.get("Error", {})
    message = str(details.get("Message", "")).lower()
    return details.get("Code") == "ClientException" and "does not exist" in message


def clean_up_stopped(
    stopped: StoppedExecution,
    *,
    volumes: VolumeConfiguration,
    mounts: Sequence[EfsMount],
    batch: BatchClient,
    resources: ExecutionResources | None,
) -> StoppedOutcome:
    """Terminate what still runs, then clean up as after a failure: the stored plan's cleanup
    requests with ``on_failure`` (so ``keep_working_dir_on_failure`` keeps the working dir),
    the execution's access points and job definition, and last its control dir."""
    stopping = stop_jobs(stopped, volumes=volumes, mounts=mounts, batch=batch)
    if stopping.ignored is not None:
        return stopping
    roots = ExecutionRoots.of(stopped.execution_id, volumes)
    plan = _stored_plan(roots, mounts)
    # Without a stored plan, Prepare failed or stopped between its claim and storing the plan:
    # no job ran, so nothing in the execution's own dirs is worth keeping.
    requests = (
        plan.cleanup if plan is not None else [CleanupRequest(path=str(root)) for root in roots.own]
    )
    removed = clean_up_execution(
        CleanupItem(execution_id=stopped.execution_id, requests=requests),
        volumes=volumes,
        mounts=mounts,
        succeeded=False,
        resources=resources,
    )
    return StoppedOutcome(stopped.execution_id, terminated=stopping.terminated, removed=removed)
