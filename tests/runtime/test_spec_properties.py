"""Whatever a user sends, validation answers with the project's own error or a valid spec."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import PlanError, SpecError
from runtime.plan.builder import build_plan
from runtime.spec import MAX_GPUS, MAX_MEMORY_MIB, MAX_VCPUS, parse_spec
from tests.runtime.specs import spec_dict

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

FIELDS = [
    ("execution_id",),
    ("execution_image",),
    ("execution_type",),
    ("resource_requirements",),
    ("resource_requirements", "vcpus"),
    ("resource_requirements", "memory"),
    ("resource_requirements", "gpu"),
    ("execution_platform",),
    ("execution_metadata", "tags"),
    ("execution_parameters",),
    ("execution_parameters", "command"),
    ("execution_parameters", "params"),
    ("execution_parameters", "params", "input"),
    ("execution_parameters", "params", "output"),
    ("execution_parameters", "inputs"),
    ("execution_parameters", "outputs"),
    ("execution_parameters", "output_s3_prefix"),
]


def replaced(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(FIELDS), value=JSON)
def test_any_field_replaced_by_any_json_gives_a_spec_error_or_a_plan(
    path: tuple[str, ...], value: Any
) -> None:
    try:
        spec = parse_spec(replaced(spec_dict(), path, value))
    except SpecError as error:
        assert error.problems
        assert all(isinstance(p, str) and p and "\n" not in p for p in error.problems)
        return
    with contextlib.suppress(PlanError):
        build_plan(spec)


@settings(max_examples=100, deadline=None)
@given(document=JSON)
def test_any_document_gives_a_spec_error(document: Any) -> None:
    try:
        parse_spec(document)
    except SpecError as error:
        assert error.problems


BOUNDS = {"vcpus": MAX_VCPUS, "memory": MAX_MEMORY_MIB, "gpu": MAX_GPUS}


def _beyond(field: str) -> st.SearchStrategy[tuple[str, Any]]:
    values = st.booleans() | st.integers(min_value=BOUNDS[field] + 1) | st.integers(max_value=-1)
    return st.tuples(st.just(field), values)


@settings(max_examples=200, deadline=None)
@given(case=st.sampled_from(sorted(BOUNDS)).flatmap(_beyond))
def test_no_boolean_and_no_count_beyond_its_bound_is_a_resource(case: tuple[str, Any]) -> None:
    field, value = case
    data = spec_dict()
    data["resource_requirements"] = {field: value}
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    [problem] = caught.value.problems
    assert problem.startswith(f"resource_requirements.{field}: ")


@settings(max_examples=300, deadline=None)
@given(image=st.text(max_size=40))
def test_an_image_reference_holds_no_space_and_starts_with_no_dash(image: str) -> None:
    try:
        spec = parse_spec(spec_dict() | {"execution_image": image})
    except SpecError as error:
        [problem] = error.problems
        assert problem.startswith("execution_image: ")
        return
    assert spec.execution_image.isascii()
    assert not any(c.isspace() for c in image)
    assert not image.startswith(("-", "."))
