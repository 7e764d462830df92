"""The established context manager (aibs-informatics-aws-lambda 1.1.0, in a venv of its own) and
our build_plan on the same requests: the established tests' examples and hypothesis-generated
ones, compared after the deliberate translations (translations.py). One subprocess evaluates the
whole batch. Where the established venv cannot be built the test FAILS saying so."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from runtime.errors import SpecError
from runtime.plan.builder import build_plan
from runtime.plan.configuration import ContextConfiguration
from runtime.spec import parse_spec
from runtime.volumes import VolumeConfiguration
from tests.established.translations import collides, established_view, our_view
from tests.established.venv import EstablishedUnavailableError, established_python

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).with_name("established_plans.py")
VOLUMES = VolumeConfiguration(file_system_id="fs-12345678")


def request(params: dict[str, Any], command: list[str], **fields: Any) -> dict[str, Any]:
    execution_parameters: dict[str, Any] = {
        "command": command,
        "params": params,
        "output_s3_prefix": "s3://bucket/outs/",
    } | fields
    return {
        "execution_type": "custom",
        "execution_id": "exec-1",
        "execution_image": "051791135335.dkr.ecr.us-west-2.amazonaws.com/test_image:latest",
        "execution_parameters": execution_parameters,
        "resource_requirements": {"memory": 8192, "vcpus": 4},
        "execution_platform": {"aws_batch": {"job_queue_name": "queue"}},
    }


# The established tests' own requests (test_context_manager.py, test_demand_execution.py).
EXAMPLES: list[dict[str, Any]] = [
    request({}, ["cmd"]),
    request({"X": "s3://bucket/key/in"}, ["cmd"], inputs=["X"]),
    request({"X": {"local": "X", "remote": "s3://bucket/key/in"}}, ["cmd"], inputs=["X"]),
    request(
        {
            "A": "s3://bucket/key",
            "B": "s3://bucket/another_key",
            "C": "c",
            "D": "d @ s3://bucket/another_key-out",
        },
        ["blah"],
        inputs=["A", "B"],
        outputs=["C", "D"],
    ),
    request(
        {"A": "s3://bucket/key", "B": "s3://bucket/another_key", "C": "c", "D": "d"},
        ["${A}", "${B}", "${C}", "${D}"],
        inputs=["A", "B"],
        outputs=["C", "D"],
    ),
    request({"A": "foo_${B}", "B": "bar"}, ["echo", "${A}"]),
    request({"X": "${Y}_bar", "Y": "foo"}, ["echo", "${X}"], outputs=["X"]),
    request({"FLAG": True, "OFF": False, "NOTHING": None, "N": 3}, ["run", "${FLAG}", "${OFF}"]),
    request(
        {"param-in": "s3://bucket/in/", "param-out": "out"},
        ["run"],
        inputs=["PARAM_IN"],
        outputs=["PARAM_OUT"],
    ),
    request(
        {
            "IN": {
                "remote": "s3://bucket/run1/",
                "local": "run1",
                "include": [r".*\.fastq"],
                "exclude": "tmp/.*",
            },
            "OUT": {"local": "aligned", "remote": "s3://bucket/out/", "exclude": [r".*\.bam"]},
        },
        ["align", "${IN}", "${OUT}"],
        inputs=["IN"],
        outputs=["OUT"],
    ),
    request(
        {"A": "s3://bucket/same", "B": "s3://bucket/same"},
        ["cmp", "${A}", "${B}"],
        inputs=["A", "B"],
    ),
    request({"A": "x"}, ["cmd"], param_pair_overrides=None),
]

_NAME = st.from_regex(r"[A-Z][A-Z0-9]{0,5}", fullmatch=True)
_WORD = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,8}", fullmatch=True)


@st.composite
def generated(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(_NAME, min_size=1, max_size=6, unique=True))
    params: dict[str, Any] = {}
    inputs, outputs = [], []
    for index, name in enumerate(names):
        kind = draw(st.sampled_from(["word", "int", "bool", "none", "input", "output", "ref"]))
        if kind == "word":
            params[name] = draw(_WORD)
        elif kind == "int":
            params[name] = draw(st.integers(-5, 10**6))
        elif kind == "bool":
            params[name] = draw(st.booleans())
        elif kind == "none":
            params[name] = None
        elif kind == "input":
            key = draw(_WORD)
            if draw(st.booleans()):
                params[name] = f"s3://bucket/{key}"
            else:
                filters = {"include": [r".*\.txt"]} if draw(st.booleans()) else {"exclude": "x.*"}
                params[name] = {"remote": f"s3://bucket/{key}/", "local": key} | filters
            inputs.append(name)
        elif kind == "output":
            params[name] = draw(_WORD)
            outputs.append(name)
        else:
            others = names[:index]
            target = draw(st.sampled_from(others)) if others else None
            params[name] = f"{draw(_WORD)}_${{{target}}}" if target else draw(_WORD)
    command = [draw(_WORD)] + [
        draw(st.sampled_from([f"${{{n}}}", "--flag"]))
        for n in draw(st.lists(st.sampled_from(names), max_size=4))
    ]
    return request(params, command, inputs=inputs, outputs=outputs) | {
        "resource_requirements": {
            "memory": draw(st.integers(512, 65536)),
            "vcpus": draw(st.integers(1, 64)),
            "gpu": draw(st.sampled_from([None, 0, 1, 4])),
        }
    }


def established_results(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        python = established_python()
    except EstablishedUnavailableError as error:
        pytest.fail(f"ESTABLISHED SYSTEM NOT COMPARED: {error}", pytrace=False)
    # A region and credentials that reach nothing: the established job builder reads them.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    done = subprocess.run(
        [str(python), str(RUNNER)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def differences(cases: list[dict[str, Any]]) -> list[str]:
    """One line per case whose plans differ (or that one side refuses and the other not)."""
    found = []
    for case, theirs in zip(cases, established_results(cases), strict=True):
        isolate = case["isolate_inputs"]
        context = ContextConfiguration(isolate_inputs=isolate)
        try:
            ours: dict[str, Any] | str = our_view(
                build_plan(parse_spec(case["request"]), VOLUMES, context)
            )
        except SpecError as error:
            ours = f"refused: {error.problems}"
        if "error" in theirs:
            expected: dict[str, Any] | str = f"established refused: {theirs['error'][:300]}"
        else:
            expected = established_view(theirs, case["request"], isolate)
        if isinstance(ours, str) and "goes too" in ours and collides(theirs):
            continue  # refused on purpose (translations.collides)
        if ours != expected:
            found.append(f"{json.dumps(case)}\n  established: {expected}\n  ours:        {ours}")
    return found


def batch(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"request": r, "isolate_inputs": isolate} for r in requests for isolate in (False, True)
    ]


def test_the_established_tests_requests_plan_the_same() -> None:
    found = differences(batch(EXAMPLES))
    assert not found, "\n".join(found)


def generated_requests(count: int = 50) -> list[dict[str, Any]]:
    """``count`` hypothesis-generated requests, collected first so that one established
    subprocess evaluates them all (a list of 50 as one example would overrun hypothesis's
    buffer, leaving only the minimal example)."""
    drawn: list[dict[str, Any]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(generated())
    def collect(spec: dict[str, Any]) -> None:
        drawn.append(spec)

    collect()
    return drawn


def test_generated_requests_plan_the_same() -> None:
    requests = generated_requests()
    assert len(requests) == 50
    found = differences(batch(requests))
    assert not found, f"{len(found)} of {2 * len(requests)} differ:\n" + "\n".join(found)
