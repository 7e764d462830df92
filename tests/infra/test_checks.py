"""Checks that come from the ecosystem: cdk-nag's AWS Solutions rules and cfn-lint."""

from __future__ import annotations

import csv
import json

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import ManualArgs, lint

from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources

# Where an environment names no region, lint against the region most services launch in.
DEFAULT_LINT_REGION = "us-east-1"


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_no_unsuppressed_aws_solutions_errors(synthesis: Synthesis, environment: str) -> None:
    stack = synthesis.stacks[environment]
    errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert errors == []


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_nag_finding_is_compliant_or_suppressed(
    synthesis: Synthesis, environment: str
) -> None:
    report = synthesis.outdir / f"AwsSolutions--demand-{environment}-NagReport.csv"
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "cdk-nag wrote no report: were the checks applied?"
    open_findings = [
        f"{row['Rule ID']} {row['Compliance']} on {row['Resource ID']}"
        for row in rows
        if row["Compliance"] not in ("Compliant", "Suppressed")
    ]
    assert open_findings == []


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_suppression_gives_a_reason(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    suppressions = [
        rule
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressions
    for rule in suppressions:
        assert len(rule["reason"]) >= 60, rule
        # Each accepts named findings only, never a whole rule.
        assert rule.get("applies_to"), rule


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_cfn_lint_finds_no_errors(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    (stack_region,) = {synthesis.stacks[environment].region}
    region = DEFAULT_LINT_REGION if stack_region.startswith("${") else stack_region
    matches = lint(json.dumps(template), config=ManualArgs(regions=[region]))
    errors = [f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path))}" for m in matches]
    assert [e for e in errors if e.startswith("E")] == []


def test_nag_checks_cover_the_resources_that_matter(synthesis: Synthesis) -> None:
    # Guards the guard: a stack without these would pass nag trivially.
    template = synthesis.templates["dev"]
    for resource_type in (
        "AWS::EFS::FileSystem",
        "AWS::S3::Bucket",
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::Batch::ComputeEnvironment",
        "AWS::EC2::VPC",
    ):
        assert resources(template, resource_type), resource_type
