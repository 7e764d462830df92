from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import pytest

from runtime.errors import PlanError, SpecError
from runtime.plan.builder import build_plan, shared_cache_key
from runtime.plan.configuration import ContextConfiguration, QueueLimits
from runtime.plan.job_environment import EnvFileMode, overrides_size
from runtime.plan.models import ExecutionPlan, with_access_points
from runtime.spec import parse_spec
from runtime.volumes import VolumeConfiguration
from tests.runtime.specs import spec_dict

VOLUMES = VolumeConfiguration(
    file_system_id="fs-123",
    shared_access_point_id="fsap-shared",
)


def plan_of(
    data: dict[str, Any] | None = None,
    volumes: VolumeConfiguration = VOLUMES,
    **context: Any,
) -> ExecutionPlan:
    return build_plan(parse_spec(data or spec_dict()), volumes, ContextConfiguration(**context))


def test_working_dir_and_outputs_live_under_scratch() -> None:
    plan = plan_of()
    assert plan.working_dir.container_path == "/opt/efs/scratch/exec-1"
    assert plan.working_dir.efs_uri == "efs://fs-123:/scratch/exec-1"
    assert plan.tmp_dir.container_path.startswith("/opt/efs/scratch/exec-1/")
    [output] = plan.outputs
    assert output.container_path == "/opt/efs/scratch/exec-1/out.txt"
    assert output.efs_uri == "efs://fs-123:/scratch/exec-1/out.txt"
    assert output.remote == "s3://bucket/results/out.txt"
    assert [(r.source, r.destination) for r in plan.stage_out] == [
        ("efs://fs-123:/scratch/exec-1/out.txt", "s3://bucket/results/out.txt")
    ]


def test_shared_input_path_is_a_hash_of_the_remote_across_executions() -> None:
    first = plan_of()
    second = plan_of(spec_dict() | {"execution_id": "exec-2"})
    [a], [b] = first.inputs, second.inputs
    key = shared_cache_key("s3://bucket/data/in.txt")
    assert a.container_path == b.container_path == f"/opt/efs/shared/{key}/in.txt"
    assert a.efs_uri == f"efs://fs-123:/shared/{key}/in.txt"
    assert a.shared
    assert [(r.source, r.destination, r.cached) for r in first.stage_in] == [
        ("s3://bucket/data/in.txt", a.efs_uri, True)
    ]


def test_two_params_with_one_remote_share_one_path_and_one_transfer() -> None:
    plan = plan_of(
        spec_dict(
            command=["cmp", "${a}", "${b}"],
            params={"a": "s3://bucket/x", "b": "s3://bucket/x"},
            inputs=["a", "b"],
            outputs=[],
        )
    )
    assert plan.inputs[0].container_path == plan.inputs[1].container_path
    assert len(plan.stage_in) == 1
    assert plan.job.environment["A"] == plan.job.environment["B"] == plan.inputs[0].container_path


def test_isolated_inputs_go_under_the_working_dir_and_are_cleaned() -> None:
    data = spec_dict(
        params={"input": "s3://bucket/data/in.txt @ inputs/in.txt", "output": "o", "level": 1}
    )
    plan = plan_of(data, isolate_inputs=True, cleanup_working_dir=False, cleanup_inputs=True)
    [planned] = plan.inputs
    assert planned.container_path == "/opt/efs/scratch/exec-1/inputs/in.txt"
    assert not planned.shared
    assert [(r.destination, r.cached) for r in plan.stage_in] == [(planned.efs_uri, False)]
    assert [c.path for c in plan.cleanup] == [planned.efs_uri]


def test_cleanup_follows_the_configuration() -> None:
    assert [c.path for c in plan_of().cleanup] == ["efs://fs-123:/scratch/exec-1"]
    assert plan_of(cleanup_working_dir=False, cleanup_inputs=False).cleanup == []
    # Shared inputs belong to every execution: never cleaned by one.
    assert plan_of(cleanup_working_dir=False, cleanup_inputs=True).cleanup == []
    kept = plan_of(keep_working_dir_on_failure=True).cleanup
    assert [(c.on_success, c.on_failure) for c in kept] == [(True, False)]


def test_tmp_volume_gives_each_execution_its_own_tmpdir() -> None:
    volumes = VOLUMES.model_copy(update={"use_tmp_volume": True})
    plan = plan_of(volumes=volumes)
    assert plan.tmp_dir.container_path == "/opt/efs/tmp/exec-1"
    assert plan.job.environment["TMPDIR"] == "/opt/efs/tmp/exec-1"
    assert [c.path for c in plan.cleanup] == [
        "efs://fs-123:/scratch/exec-1",
        "efs://fs-123:/tmp/exec-1",
    ]
    # The job mounts only its own directories of scratch and tmp, and the whole cache read-only.
    assert [m.container_path for m in plan.job.mount_points] == [
        "/opt/efs/scratch/exec-1",
        "/opt/efs/shared",
        "/opt/efs/tmp/exec-1",
    ]
    assert [(v.name, v.root_directory) for v in plan.job.volumes] == [
        ("scratch", "/scratch/exec-1"),
        ("shared", "/shared"),
        ("tmp", "/tmp/exec-1"),
    ]


def test_environment_carries_platform_variables_and_one_per_parameter() -> None:
    environment = plan_of().job.environment
    assert environment["EXECUTION_ID"] == "exec-1"
    assert environment["WORKING_DIR"] == "/opt/efs/scratch/exec-1"
    assert environment["INPUT"].startswith("/opt/efs/shared/")
    assert environment["OUTPUT"] == "/opt/efs/scratch/exec-1/out.txt"
    assert environment["LEVEL"] == "3"


def test_each_execution_has_a_job_definition_of_its_own() -> None:
    # Its volumes are the execution's own directories, so no two executions can share one;
    # named after the execution, cleanup can deregister it from the id alone.
    base = plan_of().job
    other_execution = plan_of(spec_dict() | {"execution_id": "exec-9"}).job
    assert base.job_definition_name == "demand_exec-1"
    assert other_execution.job_definition_name == "demand_exec-9"
    own = base.job_definition()["containerProperties"]["volumes"]
    assert own[0]["efsVolumeConfiguration"]["rootDirectory"] == "/scratch/exec-1"


def test_job_definition_is_safe_by_default() -> None:
    definition = plan_of().job.job_definition()
    container = definition["containerProperties"]
    assert container["privileged"] is False
    assert all(
        v["efsVolumeConfiguration"]["transitEncryption"] == "ENABLED" for v in container["volumes"]
    )
    scratch, shared = container["volumes"]
    # The deployment's scratch access point is rooted at /scratch: a job never gets it. Its
    # own access point (made by Prepare) or its own root directory instead.
    assert scratch["efsVolumeConfiguration"]["authorizationConfig"] == {"iam": "ENABLED"}
    assert scratch["efsVolumeConfiguration"]["rootDirectory"] == "/scratch/exec-1"
    with_point = with_access_points(plan_of().job, {"scratch": "fsap-exec-1"}).job_definition()
    configured = with_point["containerProperties"]["volumes"][0]["efsVolumeConfiguration"]
    assert configured["authorizationConfig"] == {"iam": "ENABLED", "accessPointId": "fsap-exec-1"}
    assert configured["rootDirectory"] == "/"
    assert shared["name"] == "shared"
    assert {m["sourceVolume"]: m["readOnly"] for m in container["mountPoints"]} == {
        "scratch": False,
        "shared": True,
    }
    rules = definition["retryStrategy"]["evaluateOnExit"]
    assert rules[0] == {"action": "RETRY", "onStatusReason": "Host EC2*"}
    assert rules[-1] == {"action": "EXIT", "onReason": "*"}
    assert container["resourceRequirements"] == [
        {"type": "VCPU", "value": "2"},
        {"type": "MEMORY", "value": "4096"},
    ]
    assert plan_of(privileged=True).job.job_definition()["containerProperties"]["privileged"]


def test_timeout_and_role() -> None:
    job = plan_of(timeout_seconds=3600, default_job_role="arn:aws:iam::1:role/r").job
    definition = job.job_definition()
    assert definition["timeout"] == {"attemptDurationSeconds": 3600}
    assert definition["containerProperties"]["jobRoleArn"] == "arn:aws:iam::1:role/r"


def test_queue_choice() -> None:
    assert plan_of().job.job_queue == "queue"
    data = spec_dict()
    data["execution_platform"] = {}
    assert plan_of(data, default_job_queue="default").job.job_queue == "default"
    data["resource_requirements"] = {"vcpus": 1, "memory": 1, "gpu": 1}
    assert plan_of(data, default_job_queue="d", gpu_job_queue="g").job.job_queue == "g"


def test_tags_combine_environment_spec_and_user() -> None:
    tags = plan_of(tags={"env": "dev"}).job.tags
    assert tags == {
        "env": "dev",
        "project": "p1",
        "demand:execution-id": "exec-1",
        "demand:user": "ada",
    }


def big_params(count: int, size: int) -> dict[str, Any]:
    return spec_dict(
        command=["run", "${input}", "${p0}"],
        params={"input": "s3://bucket/in", "output": "o"}
        | {f"p{i}": "é" * size for i in range(count)},
    )


def test_env_file_never_keeps_everything_direct() -> None:
    job = plan_of(env_file_mode=EnvFileMode.NEVER).job
    assert job.env_file is None
    assert "LEVEL" in job.environment


def test_env_file_always_moves_unreferenced_variables() -> None:
    job = plan_of(env_file_mode=EnvFileMode.ALWAYS).job
    assert job.env_file is not None
    assert job.env_file.path == "/opt/efs/scratch/exec-1/.demand/env"
    assert "LEVEL=3" in job.env_file.content.splitlines()
    # Referenced by the command, or set by the platform: stay in the container overrides.
    assert {"INPUT", "OUTPUT", "EXECUTION_ID", "WORKING_DIR", "TMPDIR"} <= set(job.environment)
    assert "LEVEL" not in job.environment
    assert ". /opt/efs/scratch/exec-1/.demand/env" in job.command[2]


def test_env_file_if_required_measures_bytes_on_the_wire() -> None:
    # 20 values of 100 "é": 2000 characters but 4000 bytes, plus JSON framing.
    small = plan_of(big_params(20, 100), env_size_limit=20_000).job
    assert small.env_file is None
    # The overrides exactly as SubmitJob sends them: command, environment and resources.
    size = len(json.dumps(small.container_overrides(), separators=(",", ":")).encode())
    assert 4000 < size < 20_000
    # At the limit, everything still goes direct; one byte under it, the env file is used.
    assert plan_of(big_params(20, 100), env_size_limit=size).job.env_file is None
    large = plan_of(big_params(20, 100), env_size_limit=size - 1).job
    assert large.env_file is not None
    assert set(large.environment) == {"EXECUTION_ID", "WORKING_DIR", "TMPDIR", "INPUT", "P0"}
    assert overrides_size(large.container_overrides()) <= size - 1


def test_environment_too_large_to_send_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="over the 1000-byte limit"):
        plan_of(big_params(20, 100), env_file_mode=EnvFileMode.NEVER, env_size_limit=1000)
    with pytest.raises(PlanError, match="variables the command references are too large"):
        plan_of(big_params(1, 2000), env_size_limit=1000)


def test_plan_json_has_the_documented_keys() -> None:
    document = json.loads(plan_of().model_dump_json())
    assert {
        "execution_id",
        "job",
        "working_dir",
        "inputs",
        "outputs",
        "stage_in",
        "stage_out",
        "cleanup",
    } <= set(document)
    assert {
        "image",
        "job_definition_name",
        "job_name",
        "job_queue",
        "command",
        "environment",
        "resources",
        "mount_points",
        "volumes",
        "privileged",
        "env_file",
    } <= set(document["job"])
    assert set(document["job"]["resources"]) == {"vcpus", "memory", "gpu"}
    assert set(document["working_dir"]) == {"container_path", "efs_uri"}
    assert {"name", "remote", "container_path", "efs_uri"} <= set(document["inputs"][0])
    assert {"source", "destination"} <= set(document["stage_in"][0])
    assert "path" in document["cleanup"][0]
    assert ExecutionPlan.model_validate(document) == plan_of()


def test_plan_is_deterministic() -> None:
    assert plan_of().model_dump_json() == plan_of().model_dump_json()


def test_an_environment_can_refuse_file_locations() -> None:
    data = spec_dict(params={"input": "file:///mnt/efs/scratch/other/.demand/env", "output": "o"})
    with pytest.raises(SpecError) as caught:
        plan_of(data, allowed_schemes=frozenset({"s3"}))
    assert caught.value.problems == [
        "execution_parameters.params.input: file:// locations are not allowed here (allowed: s3://)"
    ]
    output_elsewhere = spec_dict(params={"input": "s3://bkt/x", "output": "o @ file:///etc/x"})
    with pytest.raises(SpecError, match=r"params.output: file:// locations are not allowed"):
        plan_of(output_elsewhere, allowed_schemes=frozenset({"s3"}))


def test_isolated_inputs_and_outputs_may_not_collide() -> None:
    same_place = spec_dict(
        command=["run"],
        params={
            "a": {"remote": "s3://one/x/data.csv", "local": "data.csv"},
            "b": {"remote": "s3://two/y/data.csv", "local": "data.csv"},
            "o": "out",
        },
        inputs=["a", "b"],
        outputs=["o"],
    )
    with pytest.raises(SpecError, match=r"params.b: data.csv is where 'a' goes too"):
        plan_of(same_place, isolate_inputs=True)
    # Shared inputs live in the cache under their own hashes: no collision there.
    assert len(plan_of(same_place).stage_in) == 2
    inside = spec_dict(
        command=["run"],
        params={
            "a": {"remote": "s3://one/x/results/", "local": "results"},
            "o": "results/summary.txt",
        },
        inputs=["a"],
        outputs=["o"],
    )
    with pytest.raises(SpecError, match=r"params.o: results/summary.txt is inside 'a'"):
        plan_of(inside, isolate_inputs=True)
    twice = spec_dict(
        command=["run"],
        params={"a": "s3://one/x/data.csv", "b": "s3://one/x/data.csv", "o": "out"},
        inputs=["a", "b"],
        outputs=["o"],
    )
    assert len(plan_of(twice, isolate_inputs=True).stage_in) == 1


def test_an_isolated_input_never_collides_by_a_name_the_request_did_not_choose() -> None:
    # The established system names an input without ``local`` at random (tmpXXXXXXXX), so
    # these run there: ours keeps the object's name unless something else is at it.
    request = spec_dict(
        command=["run"],
        params={
            "a": "s3://one/x/data.csv",
            "b": "s3://two/y/data.csv",
            "ref": "s3://one/genome/",
            "o": "genome/summary.txt",
            "plain": "s3://one/x/plain.txt",
        },
        inputs=["a", "b", "ref", "plain"],
        outputs=["o"],
    )
    plan = plan_of(request, isolate_inputs=True)
    working = PurePosixPath(plan.working_dir.container_path)
    places = {i.name: PurePosixPath(i.container_path).relative_to(working) for i in plan.inputs}
    assert places["plain"] == PurePosixPath("plain.txt")
    moved = [places[name] for name in ("a", "b", "ref")]
    assert [p.parts[:2] for p in moved] == [(".demand", "inputs")] * 3
    assert [p.name for p in moved] == ["data.csv", "data.csv", "genome"]
    assert len({p.parent for p in moved}) == 3  # one directory per source
    assert plan_of(request, isolate_inputs=True) == plan  # the same every time it is planned
    assert len(plan.stage_in) == 4


def resources(**requested: int) -> dict[str, Any]:
    return spec_dict() | {"resource_requirements": requested}


def test_a_request_no_instance_of_its_queue_can_hold_is_refused() -> None:
    limits = {"queue": QueueLimits(vcpus=96, memory=393_216, gpu=0)}
    with pytest.raises(SpecError) as caught:
        plan_of(resources(vcpus=512, memory=500_000, gpu=1), queue_limits=limits)
    assert caught.value.problems == [
        "resource_requirements.vcpus: 512 exceeds the largest instance of queue queue (96 vCPUs)",
        "resource_requirements.memory: 500000 exceeds the largest instance of queue queue "
        "(393216 MiB)",
        "resource_requirements.gpu: 1 exceeds the largest instance of queue queue (0 GPUs)",
    ]
    # As large as the largest instance: it fits.
    plan = plan_of(resources(vcpus=96, memory=393_216), queue_limits=limits)
    assert plan.job.resources.vcpus == 96


def test_queue_limits_are_those_of_the_queue_the_job_goes_to() -> None:
    limits = {
        "default": QueueLimits(vcpus=8, gpu=0),
        "gpu": QueueLimits(vcpus=64, memory=65_536, gpu=4),
    }
    context: dict[str, Any] = {
        "default_job_queue": "default",
        "gpu_job_queue": "gpu",
        "queue_limits": limits,
    }

    def on_environment_queues(**requested: int) -> dict[str, Any]:
        return resources(**requested) | {"execution_platform": {}}

    # A GPU job goes to the GPU queue, whose instances are larger.
    assert plan_of(on_environment_queues(vcpus=32, gpu=1), **context).job.job_queue == "gpu"
    with pytest.raises(SpecError, match=r"vcpus: 32 exceeds .* queue default \(8 vCPUs\)"):
        plan_of(on_environment_queues(vcpus=32), **context)
    with pytest.raises(SpecError, match=r"gpu: 8 exceeds .* queue gpu \(4 GPUs\)"):
        plan_of(on_environment_queues(gpu=8), **context)
    # A limit left out is not checked; nor is a queue with no limits given.
    assert plan_of(on_environment_queues(memory=1_000_000), **context).job.job_queue == "default"
    assert plan_of(resources(vcpus=512), **context).job.job_queue == "queue"


def test_queue_limits_are_checked_before_anything_is_planned() -> None:
    # Refused with the request's other problems at once, by the same SpecError.
    data = resources(vcpus=512) | {"execution_platform": {}}
    data["execution_parameters"]["params"]["input"] = "file:///data/in.txt"
    with pytest.raises(SpecError) as caught:
        plan_of(
            data,
            default_job_queue="default",
            allowed_schemes=frozenset({"s3"}),
            queue_limits={"default": QueueLimits(vcpus=96)},
        )
    assert len(caught.value.problems) == 2


# --- per-input / per-output filters and mirroring ----------------------------------------------

FILTERED_INPUT = {"remote": "s3://bucket/run1/", "include": [r".*\.fastq"], "exclude": "tmp/.*"}


def test_filters_flow_into_the_stage_requests_with_their_established_meaning() -> None:
    output = {"local": "aligned", "remote": "s3://bucket/out/", "exclude": [r".*\.bam"]}
    plan = plan_of(spec_dict(params={"input": FILTERED_INPUT, "output": output}))
    [stage_in] = plan.stage_in
    assert stage_in.filters == (
        ("exclude_regex", "(?s:.*)"),
        ("include_regex", r".*\.fastq"),
        ("exclude_regex", "tmp/.*"),
    )
    [stage_out] = plan.stage_out
    assert stage_out.filters == (("exclude_regex", r".*\.bam"),)
    assert not stage_out.delete


def test_a_cache_entry_of_one_selection_is_never_another_selections() -> None:
    unfiltered = plan_of(spec_dict(params={"input": "s3://bucket/run1/", "output": "o"}))
    filtered = plan_of(spec_dict(params={"input": FILTERED_INPUT, "output": "o"}))
    other = {**FILTERED_INPUT, "exclude": "scratch/.*"}
    refiltered = plan_of(spec_dict(params={"input": other, "output": "o"}))
    paths = {p.inputs[0].container_path for p in (unfiltered, filtered, refiltered)}
    assert len(paths) == 3
    # An unfiltered input keeps the key it always had (entries already cached stay valid).
    key = shared_cache_key("s3://bucket/run1/")
    assert unfiltered.inputs[0].container_path == f"/opt/efs/shared/{key}/run1"
    filtered_key = shared_cache_key("s3://bucket/run1/", filtered.stage_in[0].filters)
    assert filtered.inputs[0].container_path == f"/opt/efs/shared/{filtered_key}/run1"


def test_one_remote_with_two_filters_is_two_transfers() -> None:
    params = {"input": FILTERED_INPUT, "again": "s3://bucket/run1/", "output": "o"}
    plan = plan_of(spec_dict(params=params, inputs=["input", "again"]))
    assert len(plan.stage_in) == 2
    # Isolated, the two selections land in two places, neither at the other's.
    isolated = plan_of(spec_dict(params=params, inputs=["input", "again"]), isolate_inputs=True)
    assert len({i.container_path for i in isolated.inputs}) == 2


def test_mirroring_deletes_at_each_output_destination_when_the_environment_says_so() -> None:
    plan = plan_of(mirror_outputs=True)
    assert [request.delete for request in plan.stage_out] == [True]
    assert all(not request.delete for request in plan.stage_in)


@pytest.mark.parametrize(
    ("params", "outputs", "expected"),
    [
        (
            {"output": {"local": "o", "remote": "s3://bucket/"}},
            ["output"],
            "mirroring would empty bucket 'bucket'",
        ),
        (
            {
                "output": {"local": "o", "remote": "s3://bucket/res"},
                "nested": {"local": "n", "remote": "s3://bucket/res/sub/"},
            },
            ["output", "nested"],
            "its destination may not contain 'nested''s",
        ),
        (
            {"output": {"local": "o", "remote": "s3://bucket/data/"}},
            ["output"],
            "may not overlap input 'input'",
        ),
    ],
)
def test_mirroring_never_reaches_beyond_an_outputs_own_files(
    params: dict[str, Any], outputs: list[str], expected: str
) -> None:
    data = spec_dict(params={"input": "s3://bucket/data/in.txt", **params}, outputs=outputs)
    plan_of(data)  # without mirroring, nothing is deleted, so nothing is refused
    with pytest.raises(SpecError, match=expected.replace("(", r"\(")):
        plan_of(data, mirror_outputs=True)


def test_sibling_prefixes_are_not_nested() -> None:
    params = {
        "output": {"local": "o", "remote": "s3://bucket/res"},
        "other": {"local": "n", "remote": "s3://bucket/res-old/"},
    }
    data = spec_dict(
        params={"input": "s3://bucket/data/in.txt", **params}, outputs=["output", "other"]
    )
    assert len(plan_of(data, mirror_outputs=True).stage_out) == 2
