"""A Batch job as DescribeJobs describes it, into the report's attempts and timeline bars."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runtime.report.deployed import job_facts, job_steps, queue_capacity

MS = 1_700_000_000_000  # a moment, in Batch's milliseconds


def reclaimed_then_succeeded() -> dict[str, Any]:
    """A job whose first attempt lost its Spot instance and whose second one succeeded."""
    return {
        "jobId": "j-1",
        "jobQueue": "arn:aws:batch:us-east-1:1:job-queue/demand-dev-default",
        "createdAt": MS,
        "startedAt": MS + 30_000,
        "stoppedAt": MS + 400_000,
        "attempts": [
            {
                "container": {"exitCode": None, "taskArn": "t1"},
                "startedAt": MS + 30_000,
                "stoppedAt": MS + 200_000,
                "statusReason": "Host EC2 (instance i-0123456789abcdef0) terminated.",
            },
            {
                "container": {"exitCode": 0, "taskArn": "t2"},
                "startedAt": MS + 260_000,
                "stoppedAt": MS + 400_000,
                "statusReason": "Essential container in task exited",
            },
        ],
        "container": {
            "image": "public.ecr.aws/docker/library/bash:5.2",
            "resourceRequirements": [
                {"type": "VCPU", "value": "4"},
                {"type": "MEMORY", "value": "8192"},
            ],
        },
    }


def test_a_spot_reclamation_is_an_attempt_and_a_bar_of_its_own() -> None:
    job = job_facts(reclaimed_then_succeeded(), "spot")
    assert (job.vcpus, job.memory_mib, job.gpu, job.queue) == (4, 8192, 0, "demand-dev-default")
    assert [a.spot_reclaimed for a in job.attempts] == [True, False]
    # Both attempts ran, and both are paid for.
    assert job.running_seconds == 170 + 140
    now = datetime.now(UTC)
    steps = job_steps(job, None, now)
    assert [(s.name, s.seconds, s.ok) for s in steps] == [
        ("Queued", 30.0, True),
        ("Attempt 1", 170.0, False),
        ("Attempt 2", 140.0, True),
    ]
    assert steps[1].note == "Spot reclaimed: Host EC2 (instance i-0123456789abcdef0) terminated."


def test_a_running_job_has_one_attempt_so_far() -> None:
    running = reclaimed_then_succeeded() | {"attempts": [], "stoppedAt": None}
    job = job_facts(running, "on-demand")
    assert len(job.attempts) == 1
    assert job.attempts[0].stopped_at is None
    now = datetime.fromtimestamp((MS + 90_000) / 1000, UTC)
    assert [s.seconds for s in job_steps(job, None, now)] == [30.0, 60.0]


def test_old_style_resources_are_read_too() -> None:
    job = job_facts({"container": {"vcpus": 2, "memory": 2048}, "attempts": []}, "on-demand")
    assert (job.vcpus, job.memory_mib) == (2, 2048)


class FakeBatch:
    def __init__(self, types: list[str | None]) -> None:
        self.types = types

    def describe_job_queues(self, jobQueues: list[str]) -> dict[str, Any]:  # noqa: N803
        order = [{"computeEnvironment": f"ce-{i}", "order": i} for i in range(len(self.types))]
        return {"jobQueues": [{"computeEnvironmentOrder": order}]}

    def describe_compute_environments(
        self,
        computeEnvironments: list[str],  # noqa: N803
    ) -> dict[str, Any]:
        return {
            "computeEnvironments": [
                {"computeResources": {"type": kind}} if kind else {} for kind in self.types
            ]
        }


def test_the_queue_says_spot_on_demand_or_either() -> None:
    assert queue_capacity(FakeBatch(["SPOT"]), "q") == "spot"  # type: ignore[arg-type]
    assert queue_capacity(FakeBatch(["EC2"]), "q") == "on-demand"  # type: ignore[arg-type]
    assert queue_capacity(FakeBatch(["SPOT", "EC2"]), "q") == "spot or on-demand"  # type: ignore[arg-type]
    # Unmanaged: not known, so the higher price.
    assert queue_capacity(FakeBatch([None]), "q") == "on-demand"  # type: ignore[arg-type]
