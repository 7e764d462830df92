"""`demand report --env` of executions of the synthesized state machine in moto: the report is
made from what AWS recorded (the history, DescribeJobs, the functions' settings) alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import boto3
import pytest
from moto.batch.models import Job

from runtime.cloud.errors import ExecutionNotFoundError
from runtime.cloud.stack import DeployedEnvironment
from runtime.report import prices
from runtime.report.deployed import ReportClients, deployed_report
from runtime.report.html import render_execution
from tests.e2e.harness import DATA_BUCKET, FILE_SYSTEM_ID, REGION, Harness
from tests.e2e.test_executions import COUNT_WORDS, INPUT, spec


def environment(harness: Harness) -> DeployedEnvironment:
    return DeployedEnvironment(
        name="dev",
        stack_name="demand-dev",
        state_machine_arn=harness.state_machine_arn,
        data_bucket=DATA_BUCKET,
        file_system_id=FILE_SYSTEM_ID,
        job_queue=harness.job_queue,
        job_log_group="/aws/batch/job",
    )


def clients(harness: Harness) -> ReportClients:
    return ReportClients(
        harness.stepfunctions, harness.batch, boto3.client("lambda", region_name=REGION)
    )


def test_a_succeeded_execution_from_its_history_and_its_job(harness: Harness) -> None:
    harness.put_object(INPUT, b"the quick brown fox\n")
    arn = harness.start(spec("rep-1", COUNT_WORDS))
    assert harness.wait(arn)["status"] == "SUCCEEDED"

    report = deployed_report(environment(harness), "rep-1", clients(harness))
    assert report.status == "SUCCEEDED"
    assert report.where == "environment dev"
    names = [step.name for step in report.steps]
    # Register runs beside the stage-in; the job's own times replace the state that waited.
    assert names[0] == "Prepare"
    assert set(names[1:3]) == {"Register", "Stage in"}
    assert names[3:] == ["Queued", "Attempt 1", "Stage out", "Cleanup"]
    assert all(step.ok for step in report.steps)
    for before, after in zip(report.steps, report.steps[1:], strict=False):
        assert before.started_at <= after.started_at

    # Per input and output: what the sync steps returned, which the state machine kept.
    assert [(t.direction, t.name, t.remote, t.bytes, t.objects) for t in report.transfers] == [
        ("stage_in", "words.txt", INPUT, 20, 1),
        ("stage_out", "counts.txt", "s3://e2e-data/outputs/rep-1/counts.txt", 2, 1),
    ]
    assert report.job is not None
    assert report.job.vcpus == 1
    assert report.job.memory_mib == 1024
    assert [a.exit_code for a in report.job.attempts] == [0]

    # The cost counts what happened: every state entered, every Lambda the harness ran.
    lines = {line.item: line for line in report.cost.lines}
    transitions = len(harness.states_entered(arn))
    assert lines["Step Functions transitions"].quantity == transitions
    assert lines["Step Functions transitions"].usd == pytest.approx(
        transitions * prices.STEP_FUNCTIONS_TRANSITION_USD
    )
    assert lines["Lambda requests"].quantity == sum(harness.invocations.values())
    assert lines["Lambda duration"].quantity > 0
    # moto's queue has no managed compute: priced on demand, the higher price.
    assert "compute (on-demand)" in lines
    assert report.cost.total_usd == pytest.approx(sum(line.usd for line in lines.values()))
    page = render_execution(report)
    assert page.count('class="bar step') == len(report.steps)


def test_a_second_execution_shows_the_cache_hit(harness: Harness) -> None:
    harness.put_object(INPUT, b"one two\n")
    for execution_id in ("rep-a", "rep-b"):
        assert harness.wait(harness.start(spec(execution_id, COUNT_WORDS)))["status"] == "SUCCEEDED"
    first = deployed_report(environment(harness), "rep-a", clients(harness))
    second = deployed_report(environment(harness), "rep-b", clients(harness))
    assert [t.cache_hit for t in first.transfers if t.direction == "stage_in"] == [False]
    assert [(t.cache_hit, t.bytes) for t in second.transfers if t.direction == "stage_in"] == [
        (True, 0)
    ]
    assert second.cache_hits == 1


def test_a_failed_job_is_its_attempt_and_the_failed_step(harness: Harness) -> None:
    harness.put_object(INPUT, b"x\n")
    arn = harness.start(spec("rep-fail", ["bash", "-c", "exit 3"]))
    assert harness.wait(arn)["status"] == "FAILED"
    report = deployed_report(environment(harness), "rep-fail", clients(harness))
    assert report.status == "FAILED"
    assert report.failed_step == "Run job"
    assert report.error
    assert report.job is not None
    assert [a.exit_code for a in report.job.attempts] == [3]
    attempt = next(step for step in report.steps if step.kind == "attempt")
    assert not attempt.ok
    assert attempt.note is not None
    assert attempt.note.startswith("exit code 3")
    names = [step.name for step in report.steps]
    assert "Stage out" not in names
    assert names[-1] == "Attempt 1"  # the failed job ends the execution: no failure handling


def test_a_spot_reclamation_is_an_attempt_on_the_timeline(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness's Batch loses the job's first instance, as Spot does, then runs it again:
    DescribeJobs lists two attempts, the first ended by "Host EC2 … terminated"."""
    run_job: Callable[[Job], None] = harness._run_job

    def reclaimed_once(job: Job) -> None:
        job.job_started_at = datetime.now()
        job._start_attempt()
        assert job.latest_attempt is not None
        job.latest_attempt["statusReason"] = "Host EC2 (instance i-0e2e0e2e0e2e0e2e0) terminated."
        job.job_stopped_at = datetime.now()
        job._stop_attempt()
        run_job(job)

    monkeypatch.setattr(harness, "_run_job", reclaimed_once)
    harness.put_object(INPUT, b"red green blue\n")
    arn = harness.start(spec("rep-spot", COUNT_WORDS))
    assert harness.wait(arn)["status"] == "SUCCEEDED"

    report = deployed_report(environment(harness), "rep-spot", clients(harness))
    assert report.job is not None
    assert [(a.number, a.spot_reclaimed, a.exit_code) for a in report.job.attempts] == [
        (1, True, None),
        (2, False, 0),
    ]
    attempts = [step for step in report.steps if step.kind == "attempt"]
    assert [(step.name, step.ok) for step in attempts] == [
        ("Attempt 1", False),
        ("Attempt 2", True),
    ]
    assert attempts[0].note == (
        "Spot reclaimed: Host EC2 (instance i-0e2e0e2e0e2e0e2e0) terminated."
    )
    assert attempts[0].ended_at <= attempts[1].started_at
    assert report.status == "SUCCEEDED"
    page = render_execution(report)
    assert "Spot reclaimed" in page
    assert page.count('class="bar step') == len(report.steps)


def test_the_instance_type_comes_from_ecs_while_it_knows_the_instance(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch names the attempt's container instance; ECS, asked about it, names its type."""
    ec2 = boto3.client("ec2", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    (environment_described,) = harness.batch.describe_compute_environments()["computeEnvironments"]
    cluster = environment_described["ecsClusterArn"]
    (instance,) = ec2.run_instances(
        ImageId="ami-12c6146b", InstanceType="c6i.large", MinCount=1, MaxCount=1
    )["Instances"]
    container_instance = ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps({"instanceId": instance["InstanceId"]}),
    )["containerInstance"]["containerInstanceArn"]
    run_job: Callable[[Job], None] = harness._run_job

    def on_that_instance(job: Job) -> None:
        run_job(job)
        job.attempts[-1]["container"]["containerInstanceArn"] = container_instance

    monkeypatch.setattr(harness, "_run_job", on_that_instance)
    harness.put_object(INPUT, b"one\n")
    assert harness.wait(harness.start(spec("rep-type", COUNT_WORDS)))["status"] == "SUCCEEDED"

    plain = clients(harness)
    with_ecs = ReportClients(plain.stepfunctions, plain.batch, plain.lambda_, ecs=ecs)
    report = deployed_report(environment(harness), "rep-type", with_ecs)
    assert report.job is not None
    assert report.job.instance_type == "c6i.large"
    (compute,) = [line for line in report.cost.lines if line.item.startswith("compute")]
    assert compute.unit_usd == prices.INSTANCE_PRICES["c6i.large"].usd_per_hour
    # Without ECS's answer, the resources asked for.
    without = deployed_report(environment(harness), "rep-type", plain)
    assert without.job is not None
    assert without.job.instance_type is None


def test_an_unknown_execution_is_one_error(harness: Harness) -> None:
    with pytest.raises(ExecutionNotFoundError, match="no execution 'ghost'"):
        deployed_report(environment(harness), "ghost", clients(harness))
