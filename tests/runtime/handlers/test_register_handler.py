from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from runtime.handlers import register
from runtime.plan import build_plan
from runtime.spec import parse_spec
from tests.lambda_context import FakeLambdaContext
from tests.runtime.specs import spec_dict


@pytest.fixture
def aws(efs: Path) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.mark.usefixtures("aws")
def test_two_calls_one_revision() -> None:
    definition = build_plan(parse_spec(spec_dict())).job.job_definition()
    first = register.handler(definition, FakeLambdaContext())
    second = register.handler(definition, FakeLambdaContext())
    assert first == second
    assert first["job_definition_arn"].endswith(f"{definition['jobDefinitionName']}:1")
    listed = boto3.client("batch").describe_job_definitions(
        jobDefinitionName=definition["jobDefinitionName"]
    )
    assert len(listed["jobDefinitions"]) == 1
