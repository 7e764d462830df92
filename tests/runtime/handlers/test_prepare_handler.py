from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.errors import ConfigError, PlanError, SpecError
from runtime.handlers import prepare
from runtime.handlers.observability import logger
from runtime.plan.models import ExecutionPlan
from tests.lambda_context import FakeLambdaContext
from tests.runtime.specs import spec_dict

# Step Functions refuses a state's input or output above 256 KiB.
PAYLOAD_LIMIT = 256 * 1024


def large_spec(inputs: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        f"in_{i}": f"s3://bucket/inputs/sample-{i:05}.fastq.gz" for i in range(inputs)
    }
    params["output"] = "out.txt"
    return spec_dict(
        command=["align", "--all"],
        params=params,
        inputs=[name for name in params if name.startswith("in_")],
        outputs=["output"],
    ) | {"execution_id": "large-1"}


def test_prepare_plans_and_lays_out_the_working_dir(efs: Path) -> None:
    result = prepare.handler({"spec": spec_dict()}, FakeLambdaContext())
    assert result["execution_id"] == "exec-1"
    submit = result["job"]["submit"]
    assert submit["JobQueue"] == "queue"
    assert submit["JobName"] == "demand-test_exec-1"
    assert submit["ContainerOverrides"]["Command"][:2] == ["/bin/bash", "-c"]
    assert {"Name": "EXECUTION_ID", "Value": "exec-1"} in submit["ContainerOverrides"][
        "Environment"
    ]
    assert result["job"]["definition"]["jobDefinitionName"].startswith("demand-test_")
    [item] = result["stage_in"]["items"]
    assert item["requests"][0]["source"] == "s3://bucket/data/in.txt"
    assert (item["done"], result["stage_in"]["pending"]) == (False, True)
    assert result["cleanup"]["requests"][0]["path"] == "efs://fs-test:/scratch/exec-1"
    # The stored plan is control data: outside every volume a job mounts.
    assert not (efs / "scratch/exec-1/.demand/plan.json").exists()
    stored = ExecutionPlan.model_validate_json((efs / "control/exec-1/plan.json").read_bytes())
    assert stored.execution_id == "exec-1"
    # The job's scratch volume is an access point of its own, rooted at its working dir.
    [scratch] = [v for v in stored.job.volumes if v.name == "scratch"]
    assert scratch.root_directory == "/scratch/exec-1"
    assert scratch.access_point_id is not None
    [point] = boto3.client("efs").describe_access_points(AccessPointId=scratch.access_point_id)[
        "AccessPoints"
    ]
    assert point["RootDirectory"]["Path"] == "/scratch/exec-1"
    assert point["PosixUser"] == {"Uid": 1000, "Gid": 1000}
    volumes = result["job"]["definition"]["containerProperties"]["volumes"]
    assert volumes[0]["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"] == (
        scratch.access_point_id
    )


def test_ten_thousand_inputs_stay_far_below_the_payload_limit(efs: Path) -> None:
    result = prepare.handler({"spec": large_spec(10_000)}, FakeLambdaContext())
    size = len(json.dumps(result).encode())
    assert size < PAYLOAD_LIMIT / 4, size
    items = result["stage_in"]["items"]
    assert len(items) == 40
    # Items carry no path at all: the stored plan is found from the execution id.
    assert all(item["requests"] is None and "plan_ref" not in item for item in items)
    assert sum(item["stop"] - item["start"] for item in items) == 10_000
    # The environment went to the env file; the overrides stay within Batch's limit.
    assert (efs / "scratch/large-1/.demand/env").stat().st_size > 8192
    overrides = result["job"]["submit"]["ContainerOverrides"]
    assert len(json.dumps(overrides)) < 8192


def test_bad_spec_is_a_spec_error_and_nothing_is_written(efs: Path) -> None:
    with pytest.raises(SpecError, match=r"names no parameter"):
        prepare.handler({"spec": spec_dict(command=["x", "${nope}"])}, FakeLambdaContext())
    assert list(efs.iterdir()) == []


def test_logs_are_json_lines_with_the_execution_id(
    efs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prepare.handler({"spec": spec_dict()}, FakeLambdaContext())
    formatter = logger.registered_formatter
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    assert lines
    assert all(line["execution_id"] == "exec-1" for line in lines)
    assert all(line["function_request_id"] for line in lines)


def test_a_deployed_environment_refuses_file_locations(efs: Path) -> None:
    secret = "file:///mnt/efs/scratch/other-execution/.demand/env"
    spec = spec_dict(params={"input": secret, "output": "o"})
    with pytest.raises(SpecError, match=r"file:// locations are not allowed here"):
        prepare.handler({"spec": spec}, FakeLambdaContext())
    assert list(efs.iterdir()) == []


def test_a_job_too_large_for_its_queue_is_refused_before_anything_is_made(efs: Path) -> None:
    # No queue named: the default one, whose largest instance the deployment says has 16 vCPUs.
    spec = spec_dict() | {"execution_platform": {}, "resource_requirements": {"vcpus": 17}}
    with pytest.raises(SpecError) as info:
        prepare.handler({"spec": spec}, FakeLambdaContext())
    assert info.value.problems == [
        "resource_requirements.vcpus: 17 exceeds the largest instance of queue "
        "demand-test-default (16 vCPUs)"
    ]
    assert list(efs.iterdir()) == []
    assert boto3.client("efs").describe_access_points()["AccessPoints"] == []


def test_a_gpu_job_on_a_queue_without_gpus_is_refused(efs: Path) -> None:
    spec = spec_dict() | {
        "execution_platform": {"aws_batch": {"job_queue_name": "demand-test-default"}},
        "resource_requirements": {"vcpus": 4, "memory": 8192, "gpu": 1},
    }
    with pytest.raises(SpecError, match=r"resource_requirements\.gpu: 1 exceeds .* \(0 GPUs\)"):
        prepare.handler({"spec": spec}, FakeLambdaContext())
    assert list(efs.iterdir()) == []


def test_a_job_within_its_queues_limits_is_planned(efs: Path) -> None:
    spec = spec_dict() | {"execution_platform": {}, "resource_requirements": {"vcpus": 16}}
    result = prepare.handler({"spec": spec}, FakeLambdaContext())
    assert result["job"]["submit"]["JobQueue"] == "demand-test-default"
    assert (efs / "scratch/exec-1").is_dir()


def test_malformed_queue_limits_name_the_variable(
    efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMAND_QUEUE_LIMITS", '{"demand-test-default": {"vcpus": "many"}}')
    with pytest.raises(ConfigError) as info:
        prepare.handler({"spec": spec_dict()}, FakeLambdaContext())
    assert info.value.problems == [
        "DEMAND_QUEUE_LIMITS.demand-test-default.vcpus: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    monkeypatch.setenv("DEMAND_QUEUE_LIMITS", "16")
    with pytest.raises(ConfigError, match=r"^DEMAND_QUEUE_LIMITS: Input should be a valid dict"):
        prepare.handler({"spec": spec_dict()}, FakeLambdaContext())
    assert list(efs.iterdir()) == []


def _event(spec: dict[str, Any], name: str, run: str = "1") -> dict[str, Any]:
    """As the state machine passes it: the request and the execution it serves."""
    arn = f"arn:aws:states:us-west-2:123456789012:execution:demand-test:{name}:{run}"
    return {"spec": spec, "execution": arn, "execution_name": name}


def test_a_request_must_carry_its_executions_name(efs: Path) -> None:
    with pytest.raises(SpecError, match="is not the name of this execution"):
        prepare.handler(_event(spec_dict(), "someone-elses-run"), FakeLambdaContext())
    assert not (efs / "scratch").exists()
    unnamed = {k: v for k, v in spec_dict().items() if k != "execution_id"}
    assert prepare.handler(_event(unnamed, "named-1"), FakeLambdaContext())["execution_id"] == (
        "named-1"
    )


def test_an_execution_id_in_use_by_another_execution_is_refused(efs: Path) -> None:
    first = _event(spec_dict(), "exec-1", run="a")
    prepare.handler(first, FakeLambdaContext())
    stored = (efs / "control/exec-1/plan.json").read_bytes()
    prepare.handler(first, FakeLambdaContext())  # a retry of the same execution goes on
    with pytest.raises(PlanError, match="belongs to another execution"):
        prepare.handler(_event(spec_dict(), "exec-1", run="b"), FakeLambdaContext())
    assert (efs / "control/exec-1/plan.json").read_bytes() == stored


def test_a_working_dir_left_by_an_earlier_execution_is_not_taken_over(efs: Path) -> None:
    (efs / "scratch/exec-1").mkdir(parents=True)
    (efs / "scratch/exec-1/planted").symlink_to("/")
    with pytest.raises(PlanError, match="left from an earlier execution"):
        prepare.handler(_event(spec_dict(), "exec-1"), FakeLambdaContext())
    assert not (efs / "control/exec-1/owner").exists()
