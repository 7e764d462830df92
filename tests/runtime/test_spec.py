from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.errors import SpecError
from runtime.spec import (
    MAX_GPUS,
    MAX_MEMORY_MIB,
    MAX_VCPUS,
    env_name,
    input_bindings,
    load_spec_file,
    output_bindings,
    parse_spec,
    spec_json_schema,
)
from tests.runtime.specs import spec_dict


def problems_of(data: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return caught.value.problems


def test_valid_spec_parses() -> None:
    spec = parse_spec(spec_dict())
    assert spec.execution_id == "exec-1"
    assert spec.resource_requirements.vcpus == 2


def test_established_camel_case_request_is_accepted() -> None:
    spec = parse_spec(
        {
            "executionType": "custom",
            "executionId": "x1",
            "executionImage": "img",
            "executionParameters": {
                "command": ["cmd", "${A}/${B}"],
                "params": {"A": "a", "B": "b", "C": "c"},
                "outputsMetadata": {},
                "verbosity": True,
            },
            "resourceRequirements": {"memory": 8192, "vcpus": 4},
            "executionPlatform": {"awsBatch": {"jobQueueName": "queue"}},
            "executionMetadata": {"user": "u", "tags": "a=b,c", "notifyList": []},
        }
    )
    assert spec.execution_platform.aws_batch is not None
    assert spec.execution_platform.aws_batch.job_queue_name == "queue"
    assert spec.execution_metadata.tags == {"a": "b", "c": "c"}


def test_execution_id_is_generated_when_missing() -> None:
    data = spec_dict()
    del data["execution_id"]
    assert parse_spec(data).execution_id != parse_spec(data).execution_id


@pytest.mark.parametrize(
    ("name", "variable"),
    [("input-file", "INPUT_FILE"), ("a.b", "A_B"), ("Mixed", "MIXED"), ("x_1", "X_1")],
)
def test_env_names(name: str, variable: str) -> None:
    assert env_name(name) == variable


def test_input_value_forms() -> None:
    spec = parse_spec(
        spec_dict(
            command=["run"],
            params={
                "plain": "s3://bucket/a/b.txt",
                "named": "s3://bucket/c @ local/c.txt",
                "mapped": {"remote": "s3://bucket/d", "local": "d"},
                "filed": "file:///data/e",
            },
            inputs=["plain", "named", "mapped", "filed"],
            outputs=[],
        )
    )
    bindings = {b.name: (b.remote, b.local) for b in input_bindings(spec)}
    assert bindings == {
        "plain": ("s3://bucket/a/b.txt", None),
        "named": ("s3://bucket/c", "local/c.txt"),
        "mapped": ("s3://bucket/d", "d"),
        "filed": ("file:///data/e", None),
    }


def test_output_value_forms() -> None:
    spec = parse_spec(
        spec_dict(
            command=["run"],
            params={
                "prefixed": "dir/out.txt",
                "explicit": "b.txt @ s3://other/key.txt",
                "mapped": {"local": "c", "remote": "s3://other/c"},
            },
            inputs=[],
            outputs=["prefixed", "explicit", "mapped"],
        )
    )
    bindings = {b.name: (b.local, b.remote) for b in output_bindings(spec)}
    assert bindings == {
        "prefixed": ("dir/out.txt", "s3://bucket/results/dir/out.txt"),
        "explicit": ("b.txt", "s3://other/key.txt"),
        "mapped": ("c", "s3://other/c"),
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"command": []}, "execution_parameters.command: no command given"),
        ({"command": ["run", "${missing}"]}, "${missing} names no parameter"),
        ({"inputs": ["input", "nope"]}, "execution_parameters.inputs: 'nope' is not in params"),
        ({"outputs": ["output", "gone"]}, "execution_parameters.outputs: 'gone' is not in params"),
        (
            {"params": {"input": "s3://bucket/x", "output": "/abs/out"}},
            "params.output: local path '/abs/out' must be relative",
        ),
        (
            {"params": {"input": "s3://bucket/x", "output": "a/../../out"}},
            "params.output: local path 'a/../../out' escapes the working directory",
        ),
        (
            {"params": {"input": "s3://bucket/x @ ../up", "output": "o"}},
            "params.input: local path '../up' escapes",
        ),
        ({"params": {"input": "s3:/bucket/x", "output": "o"}}, "params.input: expected an s3://"),
        ({"params": {"input": "s3://B_ad/x", "output": "o"}}, "params.input: malformed S3 URI"),
        ({"params": {"input": "s3://bucket/x", "output": "o @ s3://"}}, "malformed S3 URI"),
        (
            {"output_s3_prefix": None},
            "params.output: an output needs a destination: give one or set output_s3_prefix",
        ),
        ({"output_s3_prefix": "results/"}, "output_s3_prefix: expected an s3:// or file:// URI"),
        (
            {"params": {"input": "s3://bucket/x", "output": "o", "INPUT": "s3://bucket/y"}},
            "params.INPUT: same environment variable INPUT as 'input'",
        ),
        (
            {"params": {"input": "s3://bucket/x", "output": "o", "path": "/x"}},
            "params.path: PATH is set by the platform",
        ),
        (
            {"params": {"input": "s3://bucket/x", "output": "o", "pwd": "x"}},
            "params.pwd: PWD is set by the shell the job runs in",
        ),
        (
            {"params": {"input": "s3://bucket/x", "output": "o", "9lives": "x"}},
            "params.9lives: '9LIVES' is not a valid environment variable name",
        ),
        ({"outputs": ["output", "input"]}, "outputs: 'input' is listed as an input too"),
        (
            {"params": {"input": "s3://bucket/..", "output": "o"}},
            "params.input: 's3://bucket/..' names no object or prefix",
        ),
        ({"params": {"input": "file:///", "output": "o"}}, "params.input: 'file:///' names no"),
        (
            {"params": {"input": "s3://bucket/x", "output": ".demand/env"}},
            "params.output: local path '.demand/env' is inside .demand/",
        ),
        (
            {"params": {"input": "s3://bucket/x", "output": "o", "level\n": 1}},
            "is not a valid environment variable name",
        ),
        ({"params": {"input": 5, "output": "o"}}, "params.input: expected a string or an object"),
        (
            {"params": {"input": {"remote": "s3://bucket/x", "bogus": 1}, "output": "o"}},
            "params.input: unknown keys ['bogus']",
        ),
    ],
)
def test_invalid_parameters_are_named(change: dict[str, Any], expected: str) -> None:
    problems = problems_of(spec_dict(**change))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("section", "value", "expected"),
    [
        ("resource_requirements", {"vcpus": -1}, "resource_requirements.vcpus: Input should be"),
        ("resource_requirements", {"memory": -5}, "resource_requirements.memory: Input should be"),
        ("execution_id", "../etc", "execution_id: must be"),
        ("execution_id", "has space", "execution_id: must be"),
        ("execution_id", "x" * 81, "execution_id: must be"),
        ("execution_id", "trailing-newline\n", "execution_id: must be"),
        ("execution_image", "", "execution_image: String should have at least 1 character"),
        ("unexpected", 1, "unexpected: unknown field"),
    ],
)
def test_invalid_fields_are_named(section: str, value: Any, expected: str) -> None:
    data = spec_dict()
    data[section] = value
    problems = problems_of(data)
    assert any(problem.startswith(expected) for problem in problems), problems


@pytest.mark.parametrize("field", ["vcpus", "memory", "gpu"])
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_no_resource_count(field: str, value: bool) -> None:
    data = spec_dict()
    data["resource_requirements"] = {field: value}
    assert problems_of(data) == [
        f"resource_requirements.{field}: Input should be a whole number, not a boolean"
    ]


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [
        ("vcpus", 1_000_000_000, MAX_VCPUS),
        ("vcpus", MAX_VCPUS + 1, MAX_VCPUS),
        ("memory", 1e30, MAX_MEMORY_MIB),
        ("memory", 10**18, MAX_MEMORY_MIB),
        ("memory", MAX_MEMORY_MIB + 1, MAX_MEMORY_MIB),
        ("gpu", 100_000, MAX_GPUS),
        ("gpu", MAX_GPUS + 1, MAX_GPUS),
    ],
)
def test_more_than_any_instance_has_is_refused(field: str, value: object, bound: int) -> None:
    data = spec_dict()
    data["resource_requirements"] = {field: value}
    assert problems_of(data) == [
        f"resource_requirements.{field}: Input should be less than or equal to {bound}"
    ]


def test_resources_up_to_the_bounds_and_in_the_established_forms_are_accepted() -> None:
    data = spec_dict()
    data["resource_requirements"] = {"vcpus": MAX_VCPUS, "memory": MAX_MEMORY_MIB, "gpu": MAX_GPUS}
    assert parse_spec(data).resource_requirements.vcpus == MAX_VCPUS
    data["resource_requirements"] = {"vcpus": "4", "memory": 4096.0, "gpu": 0}
    resources = parse_spec(data).resource_requirements
    assert (resources.vcpus, resources.memory, resources.gpu) == (4, 4096, 0)


@pytest.mark.parametrize(
    "image",
    [
        "bash",
        "name:tag",
        "library/python:3.12-slim",
        "localhost:5000/path/name:tag",
        "registry.example.com:443/a/b/c:v1.2-rc_3",
        "[::1]:5000/name:tag",
        "Registry.Example.COM/lower/case:TAG",
        "a__b.c-d---e",
        "ubuntu@sha256:" + "a" * 64,
        "ubuntu:22.04@sha256:" + "0123456789abcdef" * 4,
        "public.ecr.aws/x/y:tag",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag",
        "x" * 255,
    ],
)
def test_every_form_of_image_reference_is_accepted(image: str) -> None:
    assert parse_spec(spec_dict() | {"execution_image": image}).execution_image == image


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("--privileged", "not an image reference"),
        ("img\n", "not an image reference"),
        ("img\n--privileged", "not an image reference"),
        ("a b", "not an image reference"),
        (" img", "not an image reference"),
        ("img\t", "not an image reference"),
        ("img:", "not an image reference"),
        ("img:-tag", "not an image reference"),
        ("img:" + "t" * 129, "not an image reference"),
        ("Upper", "not an image reference"),
        ("a//b", "not an image reference"),
        ("a/b/", "not an image reference"),
        ("a..b", "not an image reference"),
        ("$(reboot)", "not an image reference"),
        ("img;rm", "not an image reference"),
        ("x" * 256, "image name longer than 255 characters"),
        ("x" * 100_000, "not an image reference"),
        ("img@sha256:" + "a" * 63, "a sha256 digest has 64 hex digits"),
        ("img@md5:" + "a" * 32, "unknown digest algorithm 'md5'"),
    ],
)
def test_what_is_no_image_reference_is_refused(image: str, problem: str) -> None:
    [found] = problems_of(spec_dict() | {"execution_image": image})
    assert found.startswith(f"execution_image: {problem}"), found
    assert "\n" not in found
    assert len(found) < 300


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        spec_dict(command=["run", "${nope}"], inputs=["input", "ghost"], output_s3_prefix=None)
    )
    assert len(problems) == 3, problems


def test_missing_image_and_parameters() -> None:
    problems = problems_of({"execution_id": "x"})
    assert sorted(problems) == [
        "execution_image: Field required",
        "execution_parameters: Field required",
    ]


def test_top_level_must_be_an_object() -> None:
    assert problems_of(["a"]) == ["spec: expected an object at the top level, got a list"]


def test_yaml_and_json_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "spec.yaml"
    yaml_file.write_text(
        "execution_image: img\nexecution_parameters:\n  command: [echo, hi]\n", encoding="utf-8"
    )
    json_file = tmp_path / "spec.json"
    json_file.write_text('{"execution_image": "img", "execution_parameters": {"command": ["x"]}}')
    assert load_spec_file(yaml_file).execution_parameters.command == ["echo", "hi"]
    assert load_spec_file(json_file).execution_parameters.command == ["x"]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_spec_file(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec_file(broken)


def test_json_schema_describes_the_spec() -> None:
    schema = spec_json_schema()
    assert "execution_parameters" in schema["properties"]
    # Required under either spelling.
    assert {"anyOf": [{"required": ["execution_image"]}, {"required": ["executionImage"]}]} in (
        schema["allOf"]
    )
