"""Environment settings: what cdk.json may say, and the errors for what it may not."""

from __future__ import annotations

from typing import Any

import pytest

from infra.application import project_context
from infra.config import EnvironmentSettingsError, load_environments, parse_environment

MINIMAL: dict[str, Any] = {
    "compute": {
        "on_demand": {"instance_types": ["m6i"], "max_vcpus": 8},
        "spot": {"instance_types": ["m6i"], "max_vcpus": 8},
    }
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL, **changes}


def test_cdk_json_lists_dev_and_prod_and_both_are_valid() -> None:
    environments = load_environments(project_context())
    assert [e.name for e in environments] == ["dev", "prod"]
    assert [e.stack_name for e in environments] == ["demand-dev", "demand-prod"]


def test_defaults_create_what_they_need() -> None:
    settings = parse_environment("test", MINIMAL)
    assert settings.network.creates_vpc
    assert settings.data_bucket.creates_bucket
    assert settings.removal_policy == "retain"
    assert not settings.compute.gpu.enabled
    assert settings.account is None
    assert settings.region is None


def test_env_context_picks_one_environment() -> None:
    context = {"environments": {"a": MINIMAL, "b": MINIMAL}, "env": "b"}
    assert [e.name for e in load_environments(context)] == ["b"]


def test_unknown_environment_lists_the_known_ones() -> None:
    context = {"environments": {"a": MINIMAL, "b": MINIMAL}, "env": "c"}
    with pytest.raises(EnvironmentSettingsError, match=r"unknown environment 'c'.*lists: a, b"):
        load_environments(context)


def test_missing_environments_map() -> None:
    with pytest.raises(EnvironmentSettingsError, match="no 'environments' map"):
        load_environments({})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (_with(account="12345"), r"account: String should match pattern"),
        (_with(region="Mars"), r"region: String should match pattern"),
        (
            _with(compute={"on_demand": {"instance_types": [], "max_vcpus": 1}, "spot": {}}),
            r"compute\.on_demand\.instance_types: List should have at least 1 item",
        ),
        (
            _with(
                compute={
                    **MINIMAL["compute"],
                    "gpu": {"enabled": True, "instance_types": ["m6i"]},
                }
            ),
            r"compute\.gpu: not GPU instance types \(g\*/p\* families\): m6i",
        ),
        (
            _with(
                compute={
                    "on_demand": {"instance_types": ["m6i"], "max_vcpus": 4, "min_vcpus": 8},
                    "spot": MINIMAL["compute"]["spot"],
                }
            ),
            r"min_vcpus \(8\) exceeds max_vcpus \(4\)",
        ),
        (
            _with(network={"vpc_id": "vpc-0123456789abcdef0"}),
            r"network: an existing VPC \(vpc_id\) needs private_subnet_ids",
        ),
        (
            _with(file_system={"throughput_mode": "provisioned"}),
            r"provisioned_throughput_mibps is required",
        ),
        (_with(file_system={"transition_to_ia_days": 10}), r"transition_to_ia_days"),
        (_with(log_retention_days=42), r"log_retention_days"),
        (_with(removal_policy="snapshot"), r"removal_policy: Input should be 'retain' or"),
        (_with(data_bucket={"name": "Not_A_Bucket"}), r"data_bucket\.name"),
        (_with(map_concurrency=0), r"map_concurrency: Input should be greater than or equal"),
        (_with(job_role_arns=["arn:aws:s3:::bucket"]), r"job_role_arns\.0"),
        (_with(colour="blue"), r"colour: Extra inputs are not permitted"),
        (_with(network={"interface_endpoints": ["dynamodb"]}), r"interface_endpoints\.0"),
    ],
)
def test_invalid_settings_name_environment_and_setting(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(
        EnvironmentSettingsError, match=r"^environment 'test' in cdk.json is invalid: "
    ) as info:
        parse_environment("test", settings)
    assert "\n" not in str(info.value)
    assert info.match(message)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(EnvironmentSettingsError) as info:
        parse_environment("test", _with(account="1", region="x", map_concurrency=0))
    assert str(info.value).count(";") == 2


def test_environment_names_fit_stack_names() -> None:
    with pytest.raises(EnvironmentSettingsError, match="name: String should match pattern"):
        parse_environment("Prod_1", MINIMAL)


def test_mirroring_outputs_is_off_unless_an_environment_turns_it_on() -> None:
    assert not parse_environment("test", MINIMAL).mirror_outputs
    assert parse_environment("test", _with(mirror_outputs=True)).mirror_outputs
