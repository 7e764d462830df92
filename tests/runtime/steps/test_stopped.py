"""Cleaning up after an execution that was aborted or timed out: what Step Functions must
confirm first, whose dirs may go, which jobs are terminated, and that twice is harmless."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from runtime.plan.configuration import ContextConfiguration, PlanningConfiguration
from runtime.steps.notify import ExecutionStatusChange
from runtime.steps.prepare import ExecutionOwner, prepare_execution
from runtime.steps.stopped import (
    StoppedExecution,
    clean_up_stopped,
    confirmed_stop,
    stop_jobs,
)
from runtime.volumes import EfsMount, VolumeConfiguration
from tests.runtime.specs import spec_dict

MACHINE = "arn:aws:states:us-west-2:123456789012:stateMachine:demand-test"
ARN = "arn:aws:states:us-west-2:123456789012:execution:demand-test:exec-1"
STARTED = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)
STARTED_MS = int(STARTED.timestamp() * 1000)
VOLUMES = VolumeConfiguration(file_system_id="fs-1", use_tmp_volume=True)


def change(status: str = "ABORTED", **detail: Any) -> ExecutionStatusChange:
    return ExecutionStatusChange.model_validate(
        {
            "executionArn": ARN,
            "stateMachineArn": MACHINE,
            "name": "exec-1",
            "status": status,
            "redriveCount": 0,
        }
        | detail
    )


@dataclass
class FakeStepFunctions:
    """DescribeExecution answered from ``described`` (None: no such execution)."""

    described: dict[str, Any] | None
    asked: list[str] = field(default_factory=list)

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:  # noqa: N803
        self.asked.append(executionArn)
        if self.described is None:
            error = {"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}
            raise ClientError(error, "DescribeExecution")  # type: ignore[arg-type]
        return self.described


def described(status: str = "ABORTED", **fields: Any) -> dict[str, Any]:
    return {
        "executionArn": ARN,
        "stateMachineArn": MACHINE,
        "name": "exec-1",
        "status": status,
        "startDate": STARTED,
        "redriveCount": 0,
    } | fields


@dataclass
class FakeBatch:
    """ListJobs (one page of ``jobs``, whatever the filter) and TerminateJob, recorded."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    listed: list[dict[str, Any]] = field(default_factory=list)
    terminated: list[tuple[str, str]] = field(default_factory=list)

    def get_paginator(self, name: str) -> FakeBatch:
        assert name == "list_jobs"
        return self

    def paginate(self, **request: Any) -> list[dict[str, Any]]:
        self.listed.append(request)
        return [{"jobSummaryList": self.jobs}]

    def terminate_job(self, *, jobId: str, reason: str) -> None:  # noqa: N803
        self.terminated.append((jobId, reason))


def mounts(root: Path) -> list[EfsMount]:
    return [EfsMount(file_system_id="fs-1", local_path=root)]


def prepared(root: Path, owner: str = ARN, **context: Any) -> None:
    """What Prepare leaves for exec-1 when ``owner`` started it, plus a result of its job."""
    configuration = PlanningConfiguration(
        volumes=VOLUMES,
        context=ContextConfiguration(default_job_queue="demand-test-default", **context),
    )
    spec = spec_dict() | {"execution_platform": {}}
    prepare_execution(
        spec, configuration, mounts(root), owner=ExecutionOwner(arn=owner, name="exec-1")
    )
    (root / "scratch/exec-1/out.txt").write_text("result")
    (root / "shared/cached").mkdir(parents=True)


def stopped(status: str = "ABORTED") -> StoppedExecution:
    return StoppedExecution(
        arn=ARN, execution_id="exec-1", status=status, started=STARTED, redrive_count=0
    )


def clean(root: Path, batch: FakeBatch | None = None, status: str = "ABORTED") -> Any:
    return clean_up_stopped(
        stopped(status),
        volumes=VOLUMES,
        mounts=mounts(root),
        batch=cast(Any, batch or FakeBatch()),
        resources=None,
    )


# --- what Step Functions must confirm ------------------------------------------------------


@pytest.mark.parametrize("status", ["SUCCEEDED", "RUNNING", "PENDING_REDRIVE"])
def test_an_end_the_state_machine_handles_itself_is_ignored_unasked(status: str) -> None:
    stepfunctions = FakeStepFunctions(described(status))
    reason = confirmed_stop(change(status), "demand-test", cast(Any, stepfunctions))
    assert reason == f"{status} is not an end the state machine leaves to this cleanup"
    assert stepfunctions.asked == []


@pytest.mark.parametrize(
    "detail",
    [
        {"stateMachineArn": MACHINE.replace("demand-test", "demand-other")},
        {"executionArn": ARN.replace("demand-test", "demand-other")},
        {"executionArn": "arn:aws:lambda:us-west-2:123456789012:function:demand-test"},
    ],
)
def test_another_state_machines_execution_is_ignored_unasked(detail: dict[str, str]) -> None:
    stepfunctions = FakeStepFunctions(described())
    reason = confirmed_stop(change(**detail), "demand-test", cast(Any, stepfunctions))
    assert reason == "not an execution of demand-test"
    assert stepfunctions.asked == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (None, "Step Functions knows no such execution"),
        (described("RUNNING"), "it is RUNNING now (redriven 0 time(s)), not ABORTED"),
        (
            described("ABORTED", redriveCount=1),
            "it is ABORTED now (redriven 1 time(s)), not ABORTED",
        ),
        (
            described(stateMachineArn=MACHINE.replace("demand-test", "demand-other")),
            "not an execution of demand-test",
        ),
    ],
)
def test_what_step_functions_does_not_confirm_is_left_alone(
    answer: dict[str, Any] | None, reason: str
) -> None:
    """A forged event, or one overtaken by a redrive, does nothing."""
    assert confirmed_stop(change(), "demand-test", cast(Any, FakeStepFunctions(answer))) == reason


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            described("RUNNING", redriveCount=1),
            "it is RUNNING now (redriven 1 time(s)), not FAILED",
        ),
        (described("FAILED", redriveCount=1), "it is FAILED now (redriven 1 time(s)), not FAILED"),
    ],
)
def test_a_failure_redriven_since_is_left_to_the_redriven_run(
    answer: dict[str, Any], reason: str
) -> None:
    """Running again, or ended again: that run's own end (its cleanup, or its own event)
    cleans up; the first failure's delayed message removes nothing from under it."""
    stepfunctions = cast(Any, FakeStepFunctions(answer))
    assert confirmed_stop(change("FAILED"), "demand-test", stepfunctions) == reason


@pytest.mark.parametrize("status", ["FAILED", "ABORTED", "TIMED_OUT"])
def test_a_confirmed_stop_is_the_execution_step_functions_describes(status: str) -> None:
    confirmed = confirmed_stop(
        change(status), "demand-test", cast(Any, FakeStepFunctions(described(status)))
    )
    assert confirmed == stopped(status)


# --- whose dirs go -------------------------------------------------------------------------


def test_a_stopped_execution_leaves_nothing_of_its_own(tmp_path: Path) -> None:
    prepared(tmp_path)
    outcome = clean(tmp_path)
    assert outcome.ignored is None
    assert outcome.removed == [
        "efs://fs-1:/scratch/exec-1",
        "efs://fs-1:/tmp/exec-1",
        "efs://fs-1:/control/exec-1",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["control", "scratch", "shared", "tmp"]
    for directory in ("control", "scratch", "tmp"):
        assert list((tmp_path / directory).iterdir()) == []
    assert (tmp_path / "shared/cached").is_dir()


def test_twice_is_harmless(tmp_path: Path) -> None:
    prepared(tmp_path)
    clean(tmp_path)
    again = clean(tmp_path)
    assert again.ignored == (
        "no claim in its control dir: cleaned up already, or its Prepare never claimed"
    )
    assert again.removed == []


def test_dirs_no_claim_makes_its_own_are_left_alone(tmp_path: Path) -> None:
    """A working dir left by an earlier execution of the id: its Prepare refused to claim it."""
    (tmp_path / "scratch/exec-1").mkdir(parents=True)
    (tmp_path / "scratch/exec-1/kept.txt").write_text("an earlier execution's")
    assert clean(tmp_path).ignored is not None
    assert (tmp_path / "scratch/exec-1/kept.txt").exists()


def test_dirs_another_execution_claimed_are_left_alone(tmp_path: Path) -> None:
    other = ARN.replace(":exec-1", ":exec-1-elsewhere")
    prepared(tmp_path, owner=other)
    outcome = clean(tmp_path)
    assert outcome.ignored == f"its dirs are claimed by another execution ({other})"
    assert (tmp_path / "scratch/exec-1/out.txt").exists()
    assert (tmp_path / "control/exec-1/plan.json").exists()


def test_a_claim_without_a_stored_plan_removes_the_executions_own_dirs(tmp_path: Path) -> None:
    """Prepare stopped between its claim and storing the plan: no job ran."""
    prepared(tmp_path)
    (tmp_path / "control/exec-1/plan.json").unlink()
    outcome = clean(tmp_path)
    assert outcome.removed == [
        "efs://fs-1:/scratch/exec-1",
        "efs://fs-1:/tmp/exec-1",
        "efs://fs-1:/control/exec-1",
    ]
    assert (tmp_path / "shared/cached").is_dir()


def test_a_stop_is_a_failure_to_the_cleanup_policy(tmp_path: Path) -> None:
    prepared(tmp_path, keep_working_dir_on_failure=True)
    outcome = clean(tmp_path, status="TIMED_OUT")
    assert outcome.removed == ["efs://fs-1:/control/exec-1"]
    assert (tmp_path / "scratch/exec-1/out.txt").exists()


# --- which jobs are terminated --------------------------------------------------------------


def test_the_executions_unfinished_jobs_are_terminated_and_nothing_removed(
    tmp_path: Path,
) -> None:
    prepared(tmp_path)
    batch = FakeBatch(
        jobs=[
            {"jobId": "running", "status": "RUNNING", "createdAt": STARTED_MS + 5},
            {"jobId": "waiting", "status": "RUNNABLE", "createdAt": STARTED_MS + 9},
            {"jobId": "done", "status": "SUCCEEDED", "createdAt": STARTED_MS + 1},
            # An earlier execution of the same id, long before this one started.
            {"jobId": "earlier", "status": "RUNNING", "createdAt": STARTED_MS - 10**9},
        ]
    )
    outcome = stop_jobs(stopped(), volumes=VOLUMES, mounts=mounts(tmp_path), batch=cast(Any, batch))
    assert outcome.terminated == ["running", "waiting"]
    assert {reason for _, reason in batch.terminated} == {"demand: execution exec-1 aborted"}
    (request,) = batch.listed
    assert request == {
        "jobQueue": "demand-test-default",
        "filters": [{"name": "JOB_NAME", "values": ["demand_exec-1"]}],
    }
    assert (tmp_path / "scratch/exec-1/out.txt").exists()


def test_no_job_is_looked_for_without_a_claim_or_a_plan(tmp_path: Path) -> None:
    batch = FakeBatch(jobs=[{"jobId": "x", "status": "RUNNING", "createdAt": STARTED_MS}])
    stop_jobs(stopped(), volumes=VOLUMES, mounts=mounts(tmp_path), batch=cast(Any, batch))
    prepared(tmp_path)
    (tmp_path / "control/exec-1/plan.json").unlink()
    stop_jobs(stopped(), volumes=VOLUMES, mounts=mounts(tmp_path), batch=cast(Any, batch))
    assert batch.listed == []
    assert batch.terminated == []


def test_the_cleanup_terminates_what_still_runs_first(tmp_path: Path) -> None:
    prepared(tmp_path)
    batch = FakeBatch(jobs=[{"jobId": "late", "status": "STARTING", "createdAt": STARTED_MS}])
    outcome = clean(tmp_path, batch)
    assert outcome.terminated == ["late"]
    assert outcome.removed
