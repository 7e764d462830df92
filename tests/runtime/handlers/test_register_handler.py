from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from runtime.handlers import register
from runtime.handlers.observability import logger
from runtime.plan.builder import build_plan
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
    event = {"execution_id": "exec-1", "definition": definition}
    first = register.handler(event, FakeLambdaContext())
    second = register.handler(event, FakeLambdaContext())
    assert first == second
    assert first["job_definition_arn"].endswith(f"{definition['jobDefinitionName']}:1")
    listed = boto3.client("batch").describe_job_definitions(
        jobDefinitionName=definition["jobDefinitionName"]
    )
    assert len(listed["jobDefinitions"]) == 1


@pytest.mark.usefixtures("aws")
def test_log_lines_carry_the_execution_id(caplog: pytest.LogCaptureFixture) -> None:
    definition = build_plan(parse_spec(spec_dict())).job.job_definition()
    register.handler({"execution_id": "exec-7", "definition": definition}, FakeLambdaContext())
    lines = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records]
    assert lines
    assert {line["execution_id"] for line in lines} == {"exec-7"}
