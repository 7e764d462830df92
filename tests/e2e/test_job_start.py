"""A job that cannot start: its queue cancels it, the execution fails, and what reads its end
(`demand status`, the notifications) says which reason and what to change."""

from __future__ import annotations

from runtime import contract
from runtime.steps.failure import explained
from tests.e2e.harness import Harness
from tests.e2e.test_executions import COUNT_WORDS, INPUT, spec


def test_a_job_its_queue_cancelled_fails_the_execution_with_the_reason(harness: Harness) -> None:
    harness.put_object(INPUT, b"never counted\n")
    reason = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    harness.cancel_next_job(contract.CANCELLED_BY_TIME_LIMIT + reason)
    arn = harness.start(spec("nostart-1", COUNT_WORDS))
    described = harness.wait(arn)
    assert described["status"] == "FAILED"
    error, cause = explained(described["error"], described["cause"])
    assert error == "JobCouldNotStart"
    assert cause is not None
    assert cause.startswith(
        "the job demand-dev_nostart-1 in queue demand-dev-default never started: it stayed "
        f"RUNNABLE ({reason})"
    )
    assert "compute.runnable_time_limits.insufficient_instance_capacity" in cause
    assert harness.states_entered(arn)[-1] == "Run job"
    harness.deliver_stop(arn, queued=True)  # the rule on unsuccessful ends, after the delay
    assert list((harness.efs / "scratch").iterdir()) == []
    assert list((harness.efs / "control").iterdir()) == []
    assert harness.job_outputs == []  # nothing ran
