"""Cache pruning in each environment's template: the function over the file system, its
bounds from cdk.json, its schedule, and the output `demand cache --env` finds it by."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import EnvironmentSettingsError, parse_environment
from runtime import contract
from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources

HANDLER = "runtime.handlers.cache_prune.handler"
MINIMAL: dict[str, Any] = {
    "compute": {
        "on_demand": {"instance_types": ["m6i"], "max_vcpus": 8},
        "spot": {"instance_types": ["m6i"], "max_vcpus": 8},
    }
}


def _function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((logical_id, function),) = (
        (logical_id, function["Properties"])
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == HANDLER
    )
    return logical_id, function


def _prepare(template: dict[str, Any]) -> dict[str, Any]:
    prepare: dict[str, Any]
    (prepare,) = (
        function["Properties"]
        for function in resources(template, "AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") == "runtime.handlers.prepare.handler"
    )
    return prepare


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_function_sees_the_file_system_as_the_steps_do(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    logical_id, function = _function(template)
    prepare = _prepare(template)
    assert function["FileSystemConfigs"] == prepare["FileSystemConfigs"]
    assert function["VpcConfig"] == prepare["VpcConfig"]
    variables = function["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if not k.startswith("DEMAND_CACHE_")} == prepare[
        "Environment"
    ]["Variables"]
    # cdk.json sets no cache bounds: the defaults, 30 days and no size budget.
    assert variables[contract.ENV_CACHE_MAX_UNUSED_DAYS] == "30"
    assert variables[contract.ENV_CACHE_SIZE_BUDGET_GIB] == ""
    assert template["Outputs"][contract.OUTPUT_CACHE_PRUNE_FUNCTION_NAME]["Value"] == {
        "Ref": logical_id
    }


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_a_schedule_prunes_every_day(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    logical_id, _ = _function(template)
    (rule,) = (
        rule["Properties"]
        for name, rule in resources(template, "AWS::Events::Rule").items()
        if name.startswith("CachePruningSchedule")
    )
    assert rule["ScheduleExpression"] == "rate(1 day)"
    ((target),) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    assert json.loads(target["Input"]) == {"action": "prune"}


def test_cache_settings_are_checked() -> None:
    cache = parse_environment("dev", MINIMAL).cache
    assert (cache.max_unused_days, cache.size_budget_gib, cache.prune_every_hours) == (30, None, 24)
    custom = parse_environment(
        "dev", {**MINIMAL, "cache": {"max_unused_days": None, "size_budget_gib": 500}}
    ).cache
    assert custom.max_unused_days is None
    assert custom.size_budget_gib == 500
    with pytest.raises(EnvironmentSettingsError, match=r"cache\.max_unused_days: Input should be"):
        parse_environment("dev", {**MINIMAL, "cache": {"max_unused_days": 0}})
    with pytest.raises(EnvironmentSettingsError, match=r"cache\.prune_every_hours"):
        parse_environment("dev", {**MINIMAL, "cache": {"prune_every_hours": 0}})
