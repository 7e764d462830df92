"""The CDK app synthesized once per test session, with every environment, offline.

The `synthesis` fixture is registered in tests/conftest.py, so infra and e2e tests share it."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack

from infra.application import build_app, project_context
from infra.lambda_code import BUNDLE_CONTEXT_KEY

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# The environments in cdk.json, plus one that takes every other branch of the settings: an
# existing VPC and bucket, no Spot, a Spot GPU environment, provisioned throughput, no IA.
IMPORTED_ENVIRONMENT: dict[str, Any] = {
    "account": "123456789012",
    "region": "eu-west-1",
    "network": {
        "vpc_id": "vpc-0123456789abcdef0",
        "availability_zones": ["eu-west-1a", "eu-west-1b"],
        "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    },
    "compute": {
        "on_demand": {"instance_types": ["optimal"], "max_vcpus": 16},
        "spot": {"enabled": False, "instance_types": ["m6i"], "max_vcpus": 16},
        "gpu": {"enabled": True, "spot": True, "instance_types": ["g5.xlarge"], "max_vcpus": 8},
        "runnable_time_limits": {"insufficient_instance_capacity": 120},
    },
    "planning": {
        "isolate_inputs": True,
        "timeout_seconds": 3600,
        "max_timeout_seconds": 7200,
        "retry_attempts": 2,
        "max_retry_attempts": 2,
        "requests_may_keep_working_dir": False,
        "job_tags": {"cost-centre": "genomics"},
        "execution_allowance_hours": 6,
    },
    "file_system": {
        "throughput_mode": "provisioned",
        "provisioned_throughput_mibps": 64,
        "transition_to_ia_days": "never",
    },
    "data_bucket": {"name": "existing-demand-data"},
    "input_buckets": ["reference-genomes"],
    "output_buckets": ["shared-results"],
    "job_role_arns": ["arn:aws:iam::123456789012:role/team/analysis-job"],
    "log_execution_data": True,
    "log_kms_key_arn": (
        "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    ),
}
CDK_JSON_ENVIRONMENTS = sorted(project_context()["environments"])
ALL_ENVIRONMENTS = [*CDK_JSON_ENVIRONMENTS, "imported"]


@dataclass(frozen=True)
class Synthesis:
    outdir: Path
    stacks: dict[str, Stack]
    templates: dict[str, dict[str, Any]]


def _validation_failures(outdir: Path) -> str:
    report = outdir / "validation-report.json"
    if not report.exists():
        return "synthesis failed before validation"
    lines = []
    for plugin in json.loads(report.read_text())["pluginReports"]:
        for violation in plugin["violations"]:
            if violation["severity"] != "error":
                continue
            for construct in violation["violatingConstructs"]:
                rule = violation["description"].split(":")[0]
                lines.append(f"{rule} on {construct['constructPath']}")
    return "synthesis failed validation:\n" + "\n".join(lines)


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    outdir = tmp_path_factory.mktemp("cdk.out")
    environments = {**project_context()["environments"], "imported": IMPORTED_ENVIRONMENT}
    app = build_app(
        {BUNDLE_CONTEXT_KEY: "source", "environments": environments}, outdir=str(outdir)
    )
    try:
        assembly = app.synth()
    except RuntimeError as exc:  # cdk-nag errors fail the synth; say which
        raise AssertionError(_validation_failures(outdir)) from exc
    stacks = {
        child.stack_name.removeprefix("demand-"): child
        for child in app.node.children
        if isinstance(child, Stack)
    }
    templates = {
        name: assembly.get_stack_by_name(stack.stack_name).template
        for name, stack in stacks.items()
    }
    return Synthesis(outdir=outdir, stacks=stacks, templates=templates)


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


# The logical id prefixes of the stack's two state machines (infra/stacks.py's construct ids).
EXECUTIONS_STATE_MACHINE = "Orchestration"
RUN_SETS_STATE_MACHINE = "RunSets"


def state_machine(
    template: dict[str, Any], prefix: str = EXECUTIONS_STATE_MACHINE
) -> tuple[str, dict[str, Any]]:
    """The logical id and resource of one of the stack's state machines: the executions' (by
    default) or the run sets' (``RUN_SETS_STATE_MACHINE``)."""
    (found,) = (
        (logical_id, resource)
        for logical_id, resource in resources(template, "AWS::StepFunctions::StateMachine").items()
        if logical_id.startswith(prefix)
    )
    return found


def state_machine_definition(
    template: dict[str, Any], prefix: str = EXECUTIONS_STATE_MACHINE
) -> dict[str, Any]:
    """A state machine's definition, with each CloudFormation reference as ``"<ref>"``."""
    _, machine = state_machine(template, prefix)
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        parts = definition["Fn::Join"][1]
        definition = "".join(part if isinstance(part, str) else "<ref>" for part in parts)
    parsed: dict[str, Any] = json.loads(definition)
    return parsed


def normalised(template: dict[str, Any]) -> dict[str, Any]:
    """The template without what changes from one synth to the next: asset hashes."""
    text = json.dumps(template, indent=1, sort_keys=True)
    text = re.sub(r"\b[0-9a-f]{64}\b", "<asset-hash>", text)
    result: dict[str, Any] = json.loads(text)
    return result
