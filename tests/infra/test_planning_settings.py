"""cdk.json's planning settings and time limits: validated, and what the template makes of them
(the steps' variables, the job and state-machine time limits, the queues' RUNNABLE limits)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import EnvironmentSettingsError, PlanningSettings, parse_environment
from runtime import contract
from runtime.deployment import DeploymentSettings
from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources, state_machine

MINIMAL: dict[str, Any] = {
    "compute": {
        "on_demand": {"instance_types": ["m6i"], "max_vcpus": 8},
        "spot": {"instance_types": ["m6i"], "max_vcpus": 8},
    }
}


def _planning(**settings: Any) -> dict[str, Any]:
    return {**MINIMAL, "planning": settings}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (_planning(timeout_seconds=30), r"planning\.timeout_seconds: Input should be greater"),
        (
            _planning(timeout_seconds=7200, max_timeout_seconds=3600),
            r"planning: timeout_seconds \(7200\) exceeds max_timeout_seconds \(3600\)",
        ),
        (
            _planning(retry_attempts=4),
            r"planning: retry_attempts \(4\) exceeds max_retry_attempts \(3\)",
        ),
        (_planning(env_file_mode="sometimes"), r"planning\.env_file_mode: Input should be"),
        (_planning(env_size_limit=100_000), r"planning\.env_size_limit: Input should be less"),
        (_planning(job_tags={"demand:x": "y"}), r"planning: job_tags: demand: and aws: tags"),
        (_planning(isolate_input=True), r"planning\.isolate_input: Extra inputs"),
        (
            _planning(max_timeout_seconds=40 * 86400, max_retry_attempts=10, retry_attempts=1),
            r"over Step Functions' one year",
        ),
        (
            {
                **MINIMAL,
                "compute": {
                    **MINIMAL["compute"],
                    "runnable_time_limits": {"job_resource_requirement": 5},
                },
            },
            r"compute\.runnable_time_limits\.job_resource_requirement: Input should be greater",
        ),
        (
            {**MINIMAL, "execution_timeout_hours": 24},
            r"execution_timeout_hours: Extra inputs",  # derived from planning now
        ),
    ],
)
def test_invalid_planning_settings_name_the_setting(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvironmentSettingsError, match=r"^environment 'test' in cdk.json") as info:
        parse_environment("test", settings)
    assert info.match(message)


def test_the_state_machine_outlasts_the_longest_job_a_request_may_ask_for() -> None:
    planning = PlanningSettings(
        timeout_seconds=3600, max_timeout_seconds=7200, retry_attempts=2, max_retry_attempts=2
    )
    assert planning.execution_timeout_seconds == 2 * 7200 + 24 * 3600
    # The defaults: a 12 h job, 48 h at most, 3 attempts: 7 days.
    assert PlanningSettings().execution_timeout_seconds == 7 * 24 * 3600


def _function(template: dict[str, Any], handler: str) -> dict[str, Any]:
    function: dict[str, Any]
    (function,) = (
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == handler
    )
    return function


def _string_variables(function: dict[str, Any]) -> dict[str, str]:
    variables = function["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def test_the_planning_settings_reach_prepare_as_set(synthesis: Synthesis) -> None:
    template = synthesis.templates["imported"]
    variables = _string_variables(_function(template, "runtime.handlers.prepare.handler"))
    # The references (file system, queues, role) are not what this test is about.
    variables |= {contract.ENV_FILE_SYSTEM_ID: "fs-1", contract.ENV_ALLOWED_BUCKETS: ""}
    variables.pop(contract.ENV_SHARED_ACCESS_POINT_ID, None)
    context = DeploymentSettings.from_environment(variables).planning().context
    assert context.isolate_inputs is True
    assert context.timeout_seconds == 3600
    assert context.max_timeout_seconds == 7200
    assert context.retry_attempts == context.max_retry_attempts == 2
    assert context.requests_may_keep_working_dir is False
    assert context.tags == {"cost-centre": "genomics", "demand:environment": "imported"}
    assert context.privileged is False


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_job_has_a_time_limit_and_the_state_machine_outlasts_it(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    variables = _string_variables(_function(template, "runtime.handlers.prepare.handler"))
    assert int(variables[contract.ENV_TIMEOUT_SECONDS]) >= 60
    longest = int(variables[contract.ENV_MAX_TIMEOUT_SECONDS]) * int(
        variables[contract.ENV_MAX_RETRY_ATTEMPTS]
    )
    _, machine = state_machine(template)
    definition = machine["Properties"]["DefinitionString"]
    text = (
        definition
        if isinstance(definition, str)
        else "".join(part for part in definition["Fn::Join"][1] if isinstance(part, str))
    )
    timeout = int(text.split('"TimeoutSeconds":', 1)[1].split("}", 1)[0].split(",", 1)[0])
    assert timeout > longest
    expected = {"imported": 2 * 7200 + 6 * 3600}.get(environment, 7 * 24 * 3600)
    assert timeout == expected


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_queue_cancels_jobs_that_cannot_start_for_every_reason(
    synthesis: Synthesis, environment: str
) -> None:
    queues = resources(synthesis.templates[environment], "AWS::Batch::JobQueue").values()
    assert queues
    capacity = 120 if environment == "imported" else 30
    for queue in queues:
        actions = queue["Properties"]["JobStateTimeLimitActions"]
        assert {a["Reason"]: a["MaxTimeSeconds"] for a in actions} == {
            "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": capacity * 60,
            "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": 600,
            "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": 600,
            "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED": 600,
        }
        assert {(a["Action"], a["State"]) for a in actions} == {("CANCEL", "RUNNABLE")}
