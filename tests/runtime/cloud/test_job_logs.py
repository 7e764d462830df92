"""Reading a Batch job's log stream (moto CloudWatch Logs)."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import JobNotFoundError
from runtime.cloud.job_logs import JobLogStream, job_log_stream, log_lines
from runtime.cloud.stack import DeployedEnvironment
from tests.runtime.cloud.conftest import JOB_LOG_GROUP


class FakeBatch:
    """describe_jobs as AWS Batch answers it for a job that ran (moto runs no containers)."""

    def __init__(self, *jobs: dict[str, Any]) -> None:
        self.jobs = {job["jobId"]: job for job in jobs}

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        return {"jobs": [self.jobs[job] for job in jobs if job in self.jobs]}


def _job(job_id: str = "job-1", **fields: Any) -> dict[str, Any]:
    return {"jobId": job_id, "status": "RUNNING", **fields}


def test_stream_of_the_jobs_container(environment: DeployedEnvironment) -> None:
    batch = FakeBatch(_job(container={"logStreamName": "demand-dev-abc/default/task1"}))
    stream = job_log_stream(environment, "job-1", cast(Any, batch))
    assert stream == JobLogStream(
        job_id="job-1",
        job_status="RUNNING",
        log_group=JOB_LOG_GROUP,
        log_stream="demand-dev-abc/default/task1",
    )


def test_stream_of_the_latest_attempt_and_its_own_log_group(
    environment: DeployedEnvironment,
) -> None:
    batch = FakeBatch(
        _job(
            status="FAILED",
            container={"logConfiguration": {"options": {"awslogs-group": "/custom"}}},
            attempts=[
                {"container": {"logStreamName": "first"}},
                {"container": {"logStreamName": "second"}},
            ],
        )
    )
    stream = job_log_stream(environment, "job-1", cast(Any, batch))
    assert (stream.log_group, stream.log_stream) == ("/custom", "second")


def test_a_job_that_has_not_started(environment: DeployedEnvironment) -> None:
    batch = FakeBatch(_job(status="RUNNABLE", container={}))
    with pytest.raises(JobNotFoundError, match=r"job-1 has no log stream yet \(RUNNABLE\)"):
        job_log_stream(environment, "job-1", cast(Any, batch))


def test_a_job_batch_no_longer_knows(environment: DeployedEnvironment) -> None:
    with pytest.raises(JobNotFoundError, match="no longer known"):
        job_log_stream(environment, "job-1", cast(Any, FakeBatch()))


def test_every_line_oldest_first(clients: AwsClients) -> None:
    clients.logs.create_log_group(logGroupName=JOB_LOG_GROUP)
    clients.logs.create_log_stream(logGroupName=JOB_LOG_GROUP, logStreamName="s")
    now_ms = int(time.time() * 1000)  # CloudWatch Logs refuses events older than 14 days
    clients.logs.put_log_events(
        logGroupName=JOB_LOG_GROUP,
        logStreamName="s",
        logEvents=[{"timestamp": now_ms + i, "message": f"line {i}"} for i in range(5)],
    )
    stream = JobLogStream("job-1", "SUCCEEDED", JOB_LOG_GROUP, "s")
    lines = list(log_lines(stream, clients.logs))
    assert [line.message for line in lines] == [f"line {i}" for i in range(5)]


class _PagedLogs:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        token = request.get("nextToken")
        if token is None:
            return {"events": [{"timestamp": 1, "message": "a"}], "nextForwardToken": "f/1"}
        if token == "f/1":
            return {"events": [{"timestamp": 2, "message": "b"}], "nextForwardToken": "f/2"}
        return {"events": [], "nextForwardToken": "f/2"}  # the end: the token comes back


def test_lines_are_read_until_the_token_repeats() -> None:
    logs = _PagedLogs()
    stream = JobLogStream("job-1", "SUCCEEDED", JOB_LOG_GROUP, "s")
    assert [line.message for line in log_lines(stream, cast(Any, logs))] == ["a", "b"]
    assert len(logs.requests) == 3
