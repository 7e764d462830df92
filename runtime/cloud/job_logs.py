"""The output of an execution's Batch job, from its CloudWatch Logs stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.cloud.errors import JobNotFoundError
from runtime.cloud.stack import DeployedEnvironment

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_logs import CloudWatchLogsClient


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    message: str


@dataclass(frozen=True)
class JobLogStream:
    job_id: str
    job_status: str
    log_group: str
    log_stream: str


def job_log_stream(
    environment: DeployedEnvironment, job_id: str, batch: BatchClient
) -> JobLogStream:
    """Where the job's latest attempt logs; an error if it has not started logging yet."""
    jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
    if not jobs:
        raise JobNotFoundError(
            f"Batch job {job_id} is no longer known to AWS Batch (job records expire)"
        )
    job: Any = jobs[0]
    container = job.get("container", {})
    stream = container.get("logStreamName")
    for attempt in reversed(job.get("attempts", [])):
        stream = stream or attempt.get("container", {}).get("logStreamName")
    if not stream:
        raise JobNotFoundError(f"Batch job {job_id} has no log stream yet ({job['status']})")
    group = container.get("logConfiguration", {}).get("options", {}).get("awslogs-group")
    return JobLogStream(
        job_id=job_id,
        job_status=job["status"],
        log_group=group or environment.job_log_group,
        log_stream=stream,
    )


def log_lines(stream: JobLogStream, logs: CloudWatchLogsClient) -> Iterator[LogLine]:
    """Every event of the stream, oldest first."""
    request: dict[str, Any] = {
        "logGroupName": stream.log_group,
        "logStreamName": stream.log_stream,
        "startFromHead": True,
    }
    while True:
        page = logs.get_log_events(**request)
        for event in page["events"]:
            yield LogLine(timestamp_ms=event.get("timestamp", 0), message=event.get("message", ""))
        token = page.get("nextForwardToken")
        if not token or token == request.get("nextToken"):
            return
        request["nextToken"] = token


def follow_log_lines(
    stream: JobLogStream,
    logs: CloudWatchLogsClient,
    *,
    job_ended: Callable[[], bool],
    wait: Callable[[], None],
) -> Iterator[LogLine]:
    """Every event of the stream, oldest first, then new ones as they arrive: until the job has
    ended (``job_ended``) and a read after that brought nothing new. ``wait`` sleeps between
    reads that found nothing."""
    request: dict[str, Any] = {
        "logGroupName": stream.log_group,
        "logStreamName": stream.log_stream,
        "startFromHead": True,
    }
    ended = False
    while True:
        page = logs.get_log_events(**request)
        for event in page["events"]:
            yield LogLine(timestamp_ms=event.get("timestamp", 0), message=event.get("message", ""))
        token = page.get("nextForwardToken")
        if page["events"] or token != request.get("nextToken"):
            request["nextToken"] = token
            continue
        if ended:  # the read after the job ended brought nothing: all is printed
            return
        # The last events of a job reach CloudWatch after it ends: one more read after that.
        ended = job_ended()
        if not ended:
            wait()
