"""An execution stopped from outside (StopExecution: `demand cancel`, the console, the API)
while its job runs: the rule on aborts and timeouts terminates the job, then cleans up, and
nothing of the execution is left on the file system.

moto's Step Functions emits no EventBridge events, and its SQS would not invoke a function:
the harness invokes the stopped-execution function itself, with the event EventBridge would
send (``Harness.status_change``, from DescribeExecution) and then with the SQS record the delay
queue would hand it, without waiting out the delay.
"""

from __future__ import annotations

import time

import boto3

from tests.e2e.harness import REGION, Harness
from tests.e2e.test_executions import COUNT_WORDS, INPUT, spec


def _wait_for(condition: object, guard: float = 600.0) -> None:
    """Until ``condition()`` holds; the guard only keeps a broken run from hanging."""
    ends = time.monotonic() + guard
    while not condition():  # type: ignore[operator]
        if time.monotonic() > ends:
            raise TimeoutError("the condition never held")
        time.sleep(0.02)


def test_a_stopped_execution_leaves_nothing_on_the_file_system(harness: Harness) -> None:
    harness.put_object(INPUT, b"never counted\n")
    harness.hold_next_job()
    arn = harness.start(spec("stopped-1", COUNT_WORDS))
    assert harness.job_holding.wait(600), "the job never started"
    # Stopped once Step Functions follows the job: stopped sooner, moto's interpreter once
    # failed in a thread of its own.
    _wait_for(lambda: any(e["type"] == "TaskSubmitted" for e in harness.history(arn)))
    assert (harness.efs / "scratch/stopped-1").is_dir()

    harness.stepfunctions.stop_execution(executionArn=arn, error="Test", cause="stopped by a test")
    assert harness.wait(arn)["status"] == "ABORTED"

    # At once: the job is terminated; nothing is removed yet (a step might still be writing).
    ((at_once,),) = harness.deliver_stop(arn, queued=False).values()
    assert at_once["ignored"] is None
    (job_id,) = at_once["terminated"]
    _wait_for(lambda: harness.batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "FAILED")
    (job,) = harness.batch.describe_jobs(jobs=[job_id])["jobs"]
    assert job["statusReason"] == "demand: execution stopped-1 aborted"
    assert (harness.efs / "scratch/stopped-1").is_dir()

    # After the delay: everything the execution held goes.
    ((later,),) = harness.deliver_stop(arn, queued=True).values()
    assert later["ignored"] is None
    for directory in ("scratch", "tmp", "control"):
        assert list((harness.efs / directory).iterdir()) == [], directory
    efs = boto3.client("efs", region_name=REGION)
    points = efs.describe_access_points(FileSystemId="fs-e2e")["AccessPoints"]
    assert [p for p in points if "stopped-1" in p["RootDirectory"]["Path"]] == []
    active = harness.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert [d["jobDefinitionName"] for d in active if "stopped-1" in d["jobDefinitionName"]] == []
    assert harness.job_outputs == []  # the job's command never ran to an end
    # The input stays in the shared cache, for the next execution that asks for it.
    assert list((harness.efs / "shared").iterdir())

    # A second delivery (EventBridge and SQS deliver at least once) finds nothing to do.
    ((again,),) = harness.deliver_stop(arn, queued=True).values()
    assert again["removed"] == []
    assert again["ignored"].startswith("no claim in its control dir")
