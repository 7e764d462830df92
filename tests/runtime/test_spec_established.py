"""The request forms the established system (aibs-informatics-core 1.1.0) writes or accepts,
with its meaning: filters and their action keys, references inside values, how values render,
inputs and outputs listed by environment name, the older keys."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pydantic.alias_generators import to_camel

from runtime.errors import SpecError
from runtime.plan.builder import build_plan
from runtime.plan.models import ExecutionPlan
from runtime.references import cycles
from runtime.spec import input_bindings, output_bindings, parse_spec, spec_json_schema
from tests.runtime.specs import spec_dict


def problems_of(data: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return caught.value.problems


def plan_with(**parameters: Any) -> ExecutionPlan:
    return build_plan(parse_spec(spec_dict(**parameters)))


# --- filters and action keys -----------------------------------------------------------------


def test_filters_and_the_action_the_established_serialiser_writes_are_accepted() -> None:
    spec = parse_spec(
        spec_dict(
            params={
                "input": {
                    "remote": "s3://bucket/run1/",
                    "local": "run1",
                    "include": [r".*\.fastq"],
                    "exclude": r"tmp/.*",
                    "action": "LOCALIZE",
                },
                "output": {
                    "local": "aligned",
                    "remote": "s3://bucket/out/",
                    "exclude": [r".*\.bam"],
                    "action": "DELOCALIZE",
                },
            }
        )
    )
    [binding] = input_bindings(spec)
    assert (binding.include, binding.exclude) == ((r".*\.fastq",), ("tmp/.*",))
    [output] = output_bindings(spec)
    assert (output.include, output.exclude) == ((), (r".*\.bam",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"remote": "s3://bucket/k/", "action": "DELOCALIZE"}, "'action' must be 'LOCALIZE' here"),
        ({"remote": "s3://bucket/k/", "include": ["("]}, "include[0] is not a regular expression"),
        ({"remote": "s3://bucket/k/", "exclude": 3}, "'exclude' must be a regular expression"),
        ({"remote": "s3://bucket/k/", "include": ["a"] * 101}, "'include' takes at most 100"),
        ({"remote": "s3://bucket/k/", "bogus": 1}, "unknown keys ['bogus']"),
    ],
)
def test_bad_filters_and_actions_are_one_line_each(value: Any, expected: str) -> None:
    [problem] = problems_of(spec_dict(params={"input": value, "output": "o"}))
    assert problem.startswith("execution_parameters.params.input: ")
    assert expected in problem


def test_empty_filters_are_no_filters() -> None:
    spec = parse_spec(
        spec_dict(params={"input": {"remote": "s3://bucket/k", "include": []}, "output": "o"})
    )
    assert input_bindings(spec)[0].include == ()


def test_a_filter_is_never_taken_for_a_reference_or_a_uri() -> None:
    # Regular expressions hold ${ and } (\d{2}); the established system never substitutes
    # them, and a relative file:// in a filter is no location.
    value = {"remote": "s3://bucket/k/", "include": [r"x\d{2}", "${nothing}", "file://x"]}
    spec = parse_spec(spec_dict(params={"input": value, "output": "o"}))
    assert input_bindings(spec)[0].include == (r"x\d{2}", "${nothing}", "file://x")


# --- references inside values ----------------------------------------------------------------


def test_references_inside_values_are_resolved_at_any_depth() -> None:
    plan = plan_with(
        command=["run", "${a}"],
        params={
            "a": "foo_${b}",
            "b": "${C}_bar",
            "c": "qaz",
            "input": "s3://bucket/data/in.txt",
            "output": "out.txt",
        },
    )
    env = plan.job.environment
    assert (env["A"], env["B"], env["C"]) == ("foo_qaz_bar", "qaz_bar", "qaz")


def test_references_go_by_environment_name() -> None:
    plan = plan_with(
        params={
            "reference_a": "foo_${refERENCE_b}",
            "REFerence-B": "bar",
            "input": "s3://bucket/data/in.txt",
            "output": "out.txt",
        }
    )
    assert plan.job.environment["REFERENCE_A"] == "foo_bar"


def test_output_names_and_input_locations_are_resolved() -> None:
    plan = plan_with(
        params={
            "x": "sample7",
            "input": "s3://bucket/${x}/reads.txt",
            "output": "${x}_bar",
            "log": "${output}/log.txt",
        },
    )
    assert plan.inputs[0].remote == "s3://bucket/sample7/reads.txt"
    assert plan.outputs[0].container_path == "/opt/efs/scratch/exec-1/sample7_bar"
    assert plan.outputs[0].remote == "s3://bucket/results/sample7_bar"
    # A plain value referring to an output gets its path, as the job sees it.
    assert plan.job.environment["LOG"] == "/opt/efs/scratch/exec-1/sample7_bar/log.txt"


def test_other_dollar_brace_text_is_left_as_written() -> None:
    plan = plan_with(
        params={"a": "${1} ${a-b} $b", "input": "s3://bucket/data/in.txt", "output": "out.txt"}
    )
    assert plan.job.environment["A"] == "${1} ${a-b} $b"


def test_self_reference_is_one_line_naming_the_parameter() -> None:
    problems = problems_of(spec_dict(params={"x": "${X}", "input": "s3://bucket/k", "output": "o"}))
    assert problems == ["execution_parameters.params.x: its value refers to itself"]


def test_a_cycle_is_one_line_naming_its_parameters() -> None:
    params = {"x": "${y}", "y": "a${z}", "z": "${x}", "w": "${x}", "input": "s3://bucket/k"}
    problems = problems_of(spec_dict(params={**params, "output": "o"}))
    assert problems == [
        "execution_parameters.params: 'x', 'y', 'z' refer to one another in a cycle"
    ]


def test_a_reference_to_no_parameter_is_named() -> None:
    problems = problems_of(
        spec_dict(params={"x": "${ghost}", "input": "s3://bucket/k", "output": "o"})
    )
    assert problems == ["execution_parameters.params.x: ${ghost} names no parameter"]


def test_a_location_leading_to_another_input_or_output_is_refused() -> None:
    params = {"p": "${input}", "output": "${p}/x", "input": "s3://bucket/k"}
    problems = problems_of(spec_dict(params=params))
    assert problems == [
        "execution_parameters.params.output: an input's or output's value may refer only to "
        "plain parameters, and this one leads to 'input'"
    ]


def test_long_reference_chains_resolve_without_recursion() -> None:
    count = 3000
    params: dict[str, Any] = {f"p{i}": f"${{p{i + 1}}}" for i in range(count)}
    params[f"p{count}"] = "end"
    plan = plan_with(params={**params, "input": "s3://bucket/data/in.txt", "output": "out.txt"})
    assert plan.job.env_file is not None
    assert "P0=end\n" in plan.job.env_file.content
    params[f"p{count}"] = "${p0}"
    [problem] = problems_of(spec_dict(params={**params, "input": "s3://bucket/k", "output": "o"}))
    assert problem.endswith("refer to one another in a cycle")


def test_cycles_finds_each_group_once() -> None:
    edges = {"a": ["b"], "b": ["a"], "c": ["c"], "d": ["a", "e"], "e": []}
    assert cycles(edges) == [["a", "b"], ["c"]]


# --- rendering -------------------------------------------------------------------------------


def test_booleans_and_nulls_render_as_the_established_system_renders_them() -> None:
    plan = plan_with(
        params={
            "t": True,
            "f": False,
            "n": None,
            "i": 3,
            "r": 1.5,
            "ref": "${t}-${n}",
            "input": "s3://bucket/data/in.txt",
            "output": "out.txt",
        }
    )
    env = plan.job.environment
    assert [env[k] for k in ("T", "F", "N", "I", "R", "REF")] == [
        "True",
        "False",
        "None",
        "3",
        "1.5",
        "True-None",
    ]


# --- names and older keys --------------------------------------------------------------------


def test_inputs_and_outputs_may_be_listed_by_environment_name() -> None:
    spec = parse_spec(
        spec_dict(
            command=["run", "${param-in}"],
            params={"param-in": "s3://bucket/in.txt", "param.out": "out.txt"},
            inputs=["PARAM_IN"],
            outputs=["PARAM_OUT"],
        )
    )
    assert spec.execution_parameters.inputs == ["param-in"]
    assert spec.execution_parameters.outputs == ["param.out"]
    plan = build_plan(spec)
    assert plan.inputs[0].name == "param-in"
    assert plan.job.environment["PARAM_IN"] == plan.inputs[0].container_path


@pytest.mark.parametrize(
    "key",
    [
        "param_pair_overrides",
        "param_pairs",
        "param_set_pairs",
        "param_set_pair_overrides",
        "input_output_pairs",
        "input_output_pair_overrides",
        "paramSetPairOverrides",
    ],
)
def test_every_pair_key_of_the_established_model_is_accepted(key: str) -> None:
    pairs = [{"inputs": ["input"], "outputs": ["output"]}, {"input": "input", "output": None}]
    spec = parse_spec(spec_dict(**{key: pairs}))
    assert spec.execution_parameters.param_pair_overrides == pairs


def test_older_tag_merges_into_tags_and_tags_win() -> None:
    data = spec_dict()
    data["execution_metadata"] = {"tag": "a=b,flag", "tags": {"a": "kept"}}
    assert parse_spec(data).execution_metadata.tags == {"a": "kept", "flag": "flag"}
    data["execution_metadata"] = {"tag": ["x=1", 7]}
    assert parse_spec(data).execution_metadata.tags == {"x": "1", "7": "7"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"gpu": None}, (1, 1024, 0)),
        ({"vcpus": None, "memory": None, "gpu": None}, (1, 1024, 0)),
        ({"vcpus": 0, "memory": 0, "gpu": 0}, (1, 1024, 0)),
        ({"vcpus": 2, "gpu": 1}, (2, 1024, 1)),
    ],
)
def test_unset_resources_take_the_default(given: dict[str, Any], expected: tuple[int, ...]) -> None:
    data = spec_dict()
    data["resource_requirements"] = given
    requested = parse_spec(data).resource_requirements
    assert (requested.vcpus, requested.memory, requested.gpu) == expected


def test_nulls_the_established_serialiser_may_write_are_defaults() -> None:
    data = spec_dict()
    data["execution_metadata"] = {
        "user": None,
        "tags": None,
        "notify_on": None,
        "notify_list": None,
    }
    data["execution_parameters"]["outputs_metadata"] = None
    data["execution_parameters"]["param_pair_overrides"] = None
    spec = parse_spec(data)
    assert spec.execution_metadata.tags == {}


# --- the JSON Schema -------------------------------------------------------------------------


def camel_cased(value: Any) -> Any:
    """A request with every field name in camelCase (params' own names kept)."""
    if isinstance(value, dict):
        return {
            to_camel(key): (item if key in ("params", "tags") else camel_cased(item))
            for key, item in value.items()
        }
    return value


def test_the_schema_validates_either_spelling_as_the_models_do() -> None:
    validator = Draft202012Validator(spec_json_schema())
    snake = spec_dict(param_set_pair_overrides=[{"inputs": ["input"], "outputs": ["output"]}])
    snake["execution_metadata"]["tag"] = "a=b"
    for request in (snake, camel_cased(snake)):
        assert list(validator.iter_errors(request)) == []
        parse_spec(request)
    both = {**snake, "executionId": "other"}
    assert list(validator.iter_errors(both))
    missing = {k: v for k, v in camel_cased(snake).items() if k != "executionImage"}
    assert list(validator.iter_errors(missing))
    assert list(validator.iter_errors({**snake, "executionTypo": 1}))
