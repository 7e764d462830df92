"""Execution reports made up for the pure parts' tests (model, cost, aggregation, page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime.report.cost import estimate_deployed
from runtime.report.model import Attempt, ExecutionReport, JobFacts, Step, Transfer

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def execution_report(
    execution_id: str = "row-1",
    *,
    job_seconds: float = 60.0,
    status: str = "SUCCEEDED",
    error: str | None = None,
    attempts: list[Attempt] | None = None,
) -> ExecutionReport:
    """Prepare 2 s, stage in 3 s, queued 5 s, the job, stage out 2 s, cleanup 1 s."""
    run_start = 10.0
    run_end = run_start + job_seconds
    job = JobFacts(
        job_id="job-1",
        vcpus=2,
        memory_mib=4096,
        capacity="spot or on-demand",
        submitted_at=at(5),
        attempts=attempts
        or [Attempt(number=1, started_at=at(run_start), stopped_at=at(run_end), exit_code=0)],
    )
    steps = [
        Step(name="Prepare", kind="prepare", started_at=at(0), ended_at=at(2)),
        Step(name="Stage in", kind="stage_in", started_at=at(2), ended_at=at(5)),
        Step(name="Queued", kind="queued", started_at=at(5), ended_at=at(run_start)),
        Step(
            name="Attempt 1",
            kind="attempt",
            started_at=at(run_start),
            ended_at=at(run_end),
            ok=status == "SUCCEEDED",
        ),
        Step(name="Stage out", kind="stage_out", started_at=at(run_end), ended_at=at(run_end + 2)),
        Step(name="Cleanup", kind="cleanup", started_at=at(run_end + 2), ended_at=at(run_end + 3)),
    ]
    transfers = [
        Transfer(
            direction="stage_in",
            name="reads.fq",
            remote="s3://data/reads.fq",
            started_at=at(2),
            ended_at=at(4),
            bytes=4 * 2**20,
            transferred=1,
        ),
        Transfer(
            direction="stage_out",
            name="result",
            remote="s3://data/out/result",
            started_at=at(run_end),
            ended_at=at(run_end + 2),
            bytes=1024,
            transferred=2,
            skipped=1,
        ),
    ]
    return ExecutionReport(
        execution_id=execution_id,
        where="environment dev",
        status=status,
        started_at=T0,
        ended_at=at(run_end + 3),
        failed_step="Run job" if status != "SUCCEEDED" else None,
        error=error,
        steps=steps,
        transfers=transfers,
        job=job,
        cost=estimate_deployed(
            job=job,
            transitions=14,
            lambda_gb_seconds=3.5,
            lambda_requests=5,
            transfers=transfers,
        ),
    )
