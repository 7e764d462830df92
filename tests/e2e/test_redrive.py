"""`demand retry` of a failed execution: Step Functions redrive, from the step that failed, and
the cleanup of failures by the rule on unsuccessful ends (the harness's RedriveExecution runs
on from the top-level state that did not exit: see harness.py).

- A job fails once (its first run marks its working dir and exits 3; a run that finds the mark
  counts the words). Nothing catches the failure, so the execution ends FAILED in *Run job*
  with its working dir and staged input still there; `demand retry` (runtime.cloud.retry)
  resumes it at *Run job*: Prepare, Register and the stage-in are not run again, the input is
  not read from S3 again, and the execution succeeds and cleans up. The failure's delayed
  cleanup then finds it redriven and leaves it alone.
- A stage-out that fails is redriven without running the job again.
- A request Prepare refused is not redriven: it says why.
- A Prepare that failed after claiming the execution's dirs leaves nothing once the rule ran.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from runtime.cli.app import app
from runtime.cloud.executions import execution_status
from runtime.cloud.retry import RetryRefusedError, retry_execution
from runtime.deployment import DeploymentSettings
from runtime.plan.builder import shared_cache_key
from runtime.steps.access_points import ExecutionResources
from runtime.steps.cache_prune import CacheLayout
from runtime.sync.errors import SyncFailed
from tests.e2e.harness import FILE_SYSTEM_ID, REGION, Harness
from tests.e2e.test_executions import COUNT_WORDS, INPUT, spec
from tests.e2e.test_report import environment


def demand(*arguments: str) -> Result:
    """The command itself, against the harness's environment (Harness.deploy_stack)."""
    return CliRunner().invoke(app, [*arguments, "--env", "dev"])


FAILS_ONCE = [
    "bash",
    "-c",
    'if [ -e "$WORKING_DIR/tried" ]; then wc -w < "$WORDS" > "$COUNTS"; '
    'else touch "$WORKING_DIR/tried"; exit 3; fi',
]


def test_a_failed_job_is_redriven_without_staging_again(harness: Harness) -> None:
    harness.put_object(INPUT, b"the quick brown fox\n")
    arn = harness.start(spec("redrive-1", FAILS_ONCE))
    assert harness.wait(arn)["status"] == "FAILED"
    assert harness.states_entered(arn)[-1] == "Run job"
    failure = harness.status_change(arn)  # what EventBridge sends for the failure
    ((at_once,),) = harness.deliver_stop(arn, queued=False, event=failure).values()
    assert at_once["ignored"] is None
    assert at_once["terminated"] == []  # the job had ended
    assert (harness.efs / "scratch/redrive-1/tried").exists()  # kept for the redrive window
    assert harness.object_reads[INPUT] == 1
    before = dict(harness.invocations)
    harness.deploy_stack()
    shown = demand("status", "redrive-1")
    assert shown.exit_code == 0, shown.output
    assert "\nretry      demand retry redrive-1 until " in shown.stdout

    retried = demand("retry", "redrive-1")
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.startswith(f"{arn}: resumed from 'Run job' (redrive 1); ")
    assert harness.wait(arn)["status"] == "SUCCEEDED"
    assert harness.get_object("s3://e2e-data/outputs/redrive-1/counts.txt") == b"4\n"

    # Staging is not repeated: the input was read from S3 once, and no step before the job
    # ran again (the one new sync is the stage-out).
    assert harness.object_reads[INPUT] == 1
    after = dict(harness.invocations)
    assert {step: after[step] - before.get(step, 0) for step in after} == {
        "prepare": 0,
        "register": 0,
        "sync": 1,
        "cleanup": 1,
        "stopped": 0,
    }
    assert len(harness.job_outputs) == 2  # the failed run and the redriven one
    status = execution_status(environment(harness), "redrive-1", harness.stepfunctions)
    assert status.state == "SUCCEEDED"
    assert status.redrive_count == 1
    assert status.exit_code == 0

    # The failure's delayed cleanup comes after the redrive: it leaves the execution alone.
    ((later,),) = harness.deliver_stop(arn, queued=True, event=failure).values()
    assert later["ignored"] == "it is SUCCEEDED now (redriven 1 time(s)), not FAILED"
    assert later["removed"] == []
    # The redriven run's own Cleanup left nothing of the execution on the file system.
    for directory in ("scratch", "tmp", "control"):
        assert list((harness.efs / directory).iterdir()) == [], directory


def test_a_request_prepare_refused_is_not_redriven(harness: Harness) -> None:
    arn = harness.start(spec("refused-1", ["run", "${missing}"]))
    assert harness.wait(arn)["status"] == "FAILED"
    with pytest.raises(RetryRefusedError) as refused:
        retry_execution(environment(harness), "refused-1", harness.stepfunctions)
    assert str(refused.value).startswith(
        "cannot retry 'refused-1': Prepare refused its request (SpecError): a redrive would run "
        "the same request again"
    )


def test_a_prepare_failure_after_its_claim_is_cleaned_up_by_the_rule(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prepare claimed the execution's dirs, stored its plan (which names the input's cache
    entry: cache pruning keeps every entry a stored plan names) and made an access point, then
    failed. The failure's delayed cleanup releases all of it, the cache entry's pin included."""
    harness.put_object(INPUT, b"never staged\n")
    create = ExecutionResources.create_access_points

    def create_then_fail(self: ExecutionResources, plan: Any, roots: Any) -> dict[str, str]:
        create(self, plan, roots)
        raise RuntimeError("EFS: AccessPointLimitExceeded")

    monkeypatch.setattr(ExecutionResources, "create_access_points", create_then_fail)
    arn = harness.start(spec("leak-1", ["true"]))
    described = harness.wait(arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "RuntimeError"
    assert harness.states_entered(arn) == ["Prepare"]
    settings = DeploymentSettings.from_environment()
    cache = CacheLayout.of(settings.planning().volumes, settings.mounts())
    assert cache.keys_in_use() == {shared_cache_key(INPUT)}
    assert _access_points("leak-1")

    ((later,),) = harness.deliver_stop(arn, queued=True).values()
    assert later["ignored"] is None
    assert cache.keys_in_use() == set()
    assert _access_points("leak-1") == []
    for directory in ("scratch", "tmp", "control"):
        assert list((harness.efs / directory).iterdir()) == [], directory


def _access_points(execution_id: str) -> list[str]:
    efs = boto3.client("efs", region_name=REGION)
    points = efs.describe_access_points(FileSystemId=FILE_SYSTEM_ID)["AccessPoints"]
    return [p["AccessPointId"] for p in points if execution_id in p["RootDirectory"]["Path"]]


def test_a_failed_stage_out_is_redriven_without_running_the_job_again(harness: Harness) -> None:
    harness.put_object(INPUT, b"one two three\n")
    harness.fail_next("sync", SyncFailed("S3: AccessDenied on the output"), after=1)
    arn = harness.start(spec("redrive-2", COUNT_WORDS))
    assert harness.wait(arn)["status"] == "FAILED"
    assert harness.states_entered(arn)[-2:] == ["Stage out", "Sync output"]
    assert len(harness.job_outputs) == 1
    assert harness.keys("e2e-data", "outputs/redrive-2/") == []

    redriven = retry_execution(environment(harness), "redrive-2", harness.stepfunctions)
    assert redriven.resumes_at == "Sync output"
    assert harness.wait(arn)["status"] == "SUCCEEDED"
    assert harness.get_object("s3://e2e-data/outputs/redrive-2/counts.txt") == b"3\n"
    assert len(harness.job_outputs) == 1  # the job's result was kept, not made again
    assert harness.invocations["prepare"] == 1
    assert harness.object_reads[INPUT] == 1
    for directory in ("scratch", "tmp", "control"):
        assert list((harness.efs / directory).iterdir()) == [], directory
