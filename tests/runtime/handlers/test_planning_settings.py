"""The environment's planning settings reach Prepare through its DEMAND_* variables, and a
request's execution_options are honoured within the limits they set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import ConfigError, SpecError
from runtime.handlers import prepare
from runtime.plan.models import ExecutionPlan
from tests.lambda_context import FakeLambdaContext
from tests.runtime.specs import spec_dict


def _stored_plan(efs: Path, execution_id: str = "exec-1") -> ExecutionPlan:
    return ExecutionPlan.model_validate_json(
        (efs / "control" / execution_id / "plan.json").read_text()
    )


def _prepare(**options: Any) -> dict[str, Any]:
    spec = spec_dict() | ({"execution_options": options} if options else {})
    result: dict[str, Any] = prepare.handler({"spec": spec}, FakeLambdaContext())
    return result


def test_every_planning_variable_reaches_the_plan(
    efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "DEMAND_ISOLATE_INPUTS": "true",
        "DEMAND_CLEANUP_WORKING_DIR": "false",
        "DEMAND_CLEANUP_INPUTS": "true",
        "DEMAND_KEEP_WORKING_DIR_ON_FAILURE": "true",
        "DEMAND_ENV_FILE_MODE": "ALWAYS",
        "DEMAND_ENV_SIZE_LIMIT": "4096",
        "DEMAND_RETRY_ATTEMPTS": "2",
        "DEMAND_TIMEOUT_SECONDS": "3600",
        "DEMAND_MAX_TIMEOUT_SECONDS": "7200",
        "DEMAND_MAX_RETRY_ATTEMPTS": "2",
        "DEMAND_JOB_TAGS": json.dumps({"cost-centre": "genomics"}),
    }.items():
        monkeypatch.setenv(name, value)
    result = _prepare()
    plan = _stored_plan(efs)
    assert [planned.shared for planned in plan.inputs] == [False]
    assert plan.job.env_file is not None  # ALWAYS: the parameters go to the env file
    assert plan.job.retry_attempts == 2
    assert result["job"]["definition"]["timeout"] == {"attemptDurationSeconds": 3600}
    assert result["job"]["definition"]["retryStrategy"]["attempts"] == 2
    assert result["job"]["submit"]["Tags"]["cost-centre"] == "genomics"
    assert result["job"]["submit"]["Tags"]["demand:environment"] == "test"
    # The working dir stays; isolated inputs go, but not after a failure (kept for debugging).
    assert [(r.path.rsplit("/", 2)[-2], r.on_failure) for r in plan.cleanup] == [("exec-1", False)]


def test_a_request_chooses_its_options_within_the_limits(
    efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMAND_TIMEOUT_SECONDS", "3600")
    monkeypatch.setenv("DEMAND_MAX_TIMEOUT_SECONDS", "7200")
    result = _prepare(
        timeout_seconds=7200,
        retry_attempts=1,
        isolate_inputs=True,
        keep_working_dir_on_failure=True,
        env_file_mode="ALWAYS",
    )
    plan = _stored_plan(efs)
    assert result["job"]["definition"]["timeout"] == {"attemptDurationSeconds": 7200}
    assert plan.job.retry_attempts == 1
    assert [planned.shared for planned in plan.inputs] == [False]
    assert plan.job.env_file is not None
    assert {request.on_failure for request in plan.cleanup} == {False}


def test_a_request_over_the_limits_is_refused_naming_each_field_and_limit(
    efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMAND_TIMEOUT_SECONDS", "3600")
    monkeypatch.setenv("DEMAND_MAX_TIMEOUT_SECONDS", "7200")
    monkeypatch.setenv("DEMAND_MAX_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("DEMAND_REQUESTS_MAY_ISOLATE_INPUTS", "false")
    monkeypatch.setenv("DEMAND_REQUESTS_MAY_KEEP_WORKING_DIR", "false")
    with pytest.raises(SpecError) as refused:
        _prepare(
            timeout_seconds=7201,
            retry_attempts=4,
            isolate_inputs=True,
            keep_working_dir_on_failure=True,
        )
    assert sorted(refused.value.problems) == [
        "execution_options.isolate_inputs: this environment does not let a request isolate "
        "its inputs (requests_may_isolate_inputs is off)",
        "execution_options.keep_working_dir_on_failure: this environment does not let a "
        "request keep its working dir (requests_may_keep_working_dir is off)",
        "execution_options.retry_attempts: 4 exceeds this environment's limit of 3 attempts",
        "execution_options.timeout_seconds: 7201 exceeds this environment's limit of 7200 seconds",
    ]
    assert not (efs / "scratch").exists()


def test_privileged_is_never_a_requests_choice(efs: Path) -> None:
    with pytest.raises(SpecError, match=r"execution_options\.privileged: unknown field"):
        _prepare(privileged=True)


def test_a_request_without_options_gets_the_environments_default_timeout(
    efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMAND_TIMEOUT_SECONDS", "3600")
    assert _prepare()["job"]["definition"]["timeout"] == {"attemptDurationSeconds": 3600}


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"DEMAND_TIMEOUT_SECONDS": "soon"}, "DEMAND_TIMEOUT_SECONDS: Input should be a valid"),
        ({"DEMAND_TIMEOUT_SECONDS": "30"}, "DEMAND_TIMEOUT_SECONDS: Input should be greater"),
        ({"DEMAND_ISOLATE_INPUTS": "maybe"}, "DEMAND_ISOLATE_INPUTS: Input should be a valid"),
        ({"DEMAND_ENV_FILE_MODE": "SOMETIMES"}, "DEMAND_ENV_FILE_MODE: Input should be"),
        ({"DEMAND_RETRY_ATTEMPTS": "11"}, "DEMAND_RETRY_ATTEMPTS: Input should be less"),
        ({"DEMAND_JOB_TAGS": "[1]"}, "DEMAND_JOB_TAGS: Input should be a valid dictionary"),
        ({"DEMAND_JOB_TAGS": '{"demand:x": "y"}'}, "DEMAND_JOB_TAGS: tags starting with"),
        ({"DEMAND_TIMEOUT": "3600"}, "DEMAND_TIMEOUT: not a setting of the steps"),
        (
            {"DEMAND_RETRY_ATTEMPTS": "5", "DEMAND_MAX_RETRY_ATTEMPTS": "4"},
            "DEMAND_RETRY_ATTEMPTS (5) exceeds DEMAND_MAX_RETRY_ATTEMPTS (4)",
        ),
        (
            {"DEMAND_MAX_TIMEOUT_SECONDS": "600"},
            "DEMAND_TIMEOUT_SECONDS (None) must be set and at most DEMAND_MAX_TIMEOUT_SECONDS",
        ),
    ],
)
def test_a_planning_variable_that_is_set_but_invalid_fails_loudly(
    efs: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], problem: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        _prepare()
    (line,) = refused.value.problems
    assert problem in line
    assert not (efs / "scratch").exists()
