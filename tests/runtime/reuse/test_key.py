"""The reuse key: any change in what it covers changes it; what it leaves out does not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from runtime.errors import SpecError
from runtime.plan.builder import build_plan
from runtime.plan.configuration import ContextConfiguration
from runtime.reuse.key import (
    InputIdentity,
    KeyMaterial,
    ObjectIdentity,
    OutputLayout,
    canonical_plan,
    image_digest,
    key_material,
    reuse_key,
    reuse_refusal,
    without_reuse,
)
from runtime.spec import parse_spec
from runtime.volumes import VolumeConfiguration

text = st.text(max_size=12)
objects = st.builds(
    ObjectIdentity,
    relpath=text,
    size=st.integers(0, 2**40),
    etag=st.none() | text,
    mtime_ns=st.none() | st.integers(0, 2**62),
    ctime_ns=st.none() | st.integers(0, 2**62),
    ino=st.none() | st.integers(0, 2**40),
)
filters = st.lists(st.tuples(st.sampled_from(["include", "exclude"]), text), max_size=2).map(tuple)
inputs = st.builds(
    InputIdentity,
    name=text,
    remote=text,
    container_path=text,
    filters=filters,
    single=st.booleans(),
    objects=st.lists(objects, max_size=3).map(tuple),
)
outputs = st.builds(OutputLayout, name=text, container_path=text, filters=filters)
materials = st.builds(
    KeyMaterial,
    image_digest=text,
    runner=text,
    command=st.lists(text, max_size=3).map(tuple),
    environment=st.lists(st.tuples(text, text), max_size=3).map(tuple),
    env_file=st.none() | text,
    inputs=st.lists(inputs, max_size=2).map(tuple),
    outputs=st.lists(outputs, max_size=2).map(tuple),
)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every scalar in a dumped model, with the path to it."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, (*path, i))]
    return [(path, value)]


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return f"{value}x"


def replaced(data: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {**data, head: replaced(data[head], rest, new)}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(data)]


@given(materials, st.data())
def test_any_change_of_a_covered_field_changes_the_key(
    material: KeyMaterial, data: st.DataObject
) -> None:
    dumped = material.model_dump(mode="json")
    path, value = data.draw(st.sampled_from(leaves(dumped)))
    if value is None:  # a string or a number that was not there
        try:
            other = KeyMaterial.model_validate(replaced(dumped, path, ""))
        except ValidationError:
            other = KeyMaterial.model_validate(replaced(dumped, path, 0))
    else:
        other = KeyMaterial.model_validate(replaced(dumped, path, changed(value)))

    assert reuse_key(other) != reuse_key(material)


@given(materials)
def test_the_key_is_the_same_for_the_same_material(material: KeyMaterial) -> None:
    again = KeyMaterial.model_validate(material.model_dump(mode="json"))
    assert reuse_key(again) == reuse_key(material)


@given(materials, inputs)
def test_one_more_input_or_object_changes_the_key(
    material: KeyMaterial, more: InputIdentity
) -> None:
    other = material.model_copy(update={"inputs": (*material.inputs, more)})
    assert reuse_key(other) != reuse_key(material)


DIGEST = "sha256:" + "c" * 64


def request(**changes: Any) -> Any:
    params = {"data": "s3://inbucket/data.txt", "out": "out.txt", "n": 3}
    params |= changes.pop("params", {})
    return parse_spec(
        {
            "execution_id": "one",
            "execution_image": f"repo/tool@{DIGEST}",
            "execution_parameters": {
                "command": ["tool", "${data}", "${n}", "${out}"],
                "params": params,
                "inputs": ["data"],
                "outputs": ["out"],
                "output_s3_prefix": "s3://outbucket/one/",
            },
        }
        | changes
    )


def key_of(spec: Any, context: ContextConfiguration | None = None) -> str:
    plan = canonical_plan(spec, VolumeConfiguration(), context or ContextConfiguration())
    listings = {
        item.efs_uri: (True, [ObjectIdentity(relpath="", size=5, etag="e")]) for item in plan.inputs
    }
    return reuse_key(key_material(plan, digest=DIGEST, runner="process", listings=listings))


def test_what_decides_where_and_how_a_job_runs_is_not_covered() -> None:
    base = key_of(request())
    others = [
        request(execution_id="two"),
        request(resource_requirements={"vcpus": 8, "memory": 4096}),
        request(execution_metadata={"user": "ada", "tags": {"project": "whale"}}),
        request(
            execution_parameters={
                "command": ["tool", "${data}", "${n}", "${out}"],
                "params": {"data": "s3://inbucket/data.txt", "out": "out.txt", "n": 3},
                "inputs": ["data"],
                "outputs": ["out"],
                "output_s3_prefix": "s3://outbucket/elsewhere/",
            }
        ),
    ]
    assert [key_of(other) for other in others] == [base] * len(others)


def test_what_the_job_sees_is_covered() -> None:
    base = key_of(request())
    others = [
        key_of(request(params={"n": 4})),
        key_of(request(params={"data": "s3://inbucket/other.txt"})),
        key_of(request(params={"out": "elsewhere.txt"})),
        key_of(request(), ContextConfiguration(isolate_inputs=True)),
    ]
    assert base not in others
    assert len(set(others)) == len(others)


def test_an_image_is_reusable_only_by_digest() -> None:
    assert image_digest(f"repo/tool@{DIGEST}") == DIGEST
    assert image_digest(f"repo/tool:1.2@{DIGEST}") == DIGEST
    assert image_digest("repo/tool:latest") is None
    assert image_digest("repo/tool") is None
    refusal = reuse_refusal(request(execution_image="repo/tool:1.2"), ContextConfiguration())
    assert refusal is not None
    assert "not pinned by digest" in refusal


def test_reuse_can_be_turned_off() -> None:
    context = ContextConfiguration()
    assert reuse_refusal(request(), context) is None
    assert reuse_refusal(without_reuse(request()), context) is not None
    assert reuse_refusal(request(), ContextConfiguration(reuse=False)) is not None
    assert reuse_refusal(request(), ContextConfiguration(mirror_outputs=True)) is not None


def test_a_request_may_not_ask_for_reuse_where_the_environment_has_it_off() -> None:
    asking = request(execution_options={"reuse": True})
    with pytest.raises(SpecError) as refused:
        build_plan(asking, VolumeConfiguration(), ContextConfiguration(reuse=False))
    assert refused.value.problems == [
        "execution_options.reuse: this environment does not reuse results (its reuse setting "
        "is off)"
    ]
    build_plan(without_reuse(asking), VolumeConfiguration(), ContextConfiguration(reuse=False))
