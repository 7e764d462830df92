from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime.deployment import DeploymentSettings
from runtime.errors import SpecError
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


def deployed_definition(**changes: Any) -> dict[str, Any]:
    """The definition the deployment's Prepare would plan (its prefix, its file system)."""
    planning = DeploymentSettings.from_environment().planning()
    plan = build_plan(parse_spec(spec_dict() | changes), planning.volumes, planning.context)
    return plan.job.job_definition()


@pytest.mark.usefixtures("aws")
def test_two_calls_one_revision() -> None:
    definition = deployed_definition()
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
    definition = deployed_definition(execution_id="exec-7")
    register.handler({"execution_id": "exec-7", "definition": definition}, FakeLambdaContext())
    lines = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records]
    assert lines
    assert {line["execution_id"] for line in lines} == {"exec-7"}


def _forged(definition: dict[str, Any], **container: Any) -> dict[str, Any]:
    return definition | {"containerProperties": definition["containerProperties"] | container}


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("forge", "problem"),
    [
        (lambda d: d | {"jobDefinitionName": "demand-test_exec-2"}, "is not this execution's"),
        (lambda d: _forged(d, privileged=True), "never run privileged"),
        (
            # the whole scratch volume: every execution's working dir
            lambda d: _forged(
                d,
                volumes=[
                    {
                        "name": "scratch",
                        "efsVolumeConfiguration": {"fileSystemId": "fs-test", "rootDirectory": "/"},
                    }
                ],
            ),
            "outside the execution",
        ),
        (
            # another execution's access point, rooted at its working dir
            lambda d: _with_scratch_point(d, _other_execution_access_point()),
            "outside the execution",
        ),
        (
            # the shared cache, mounted a second time read-write
            lambda d: _forged(
                d,
                mountPoints=[
                    *d["containerProperties"]["mountPoints"],
                    {"containerPath": "/w", "sourceVolume": "shared", "readOnly": False},
                ],
            ),
            "outside the execution",
        ),
        (lambda d: d | {"type": "multinode"}, "only container jobs"),
        (lambda d: d | {"ecsProperties": {"taskProperties": []}}, "ecsProperties: not part"),
        (lambda d: _forged(d, linuxParameters={"devices": []}), "linuxParameters: not part"),
    ],
)
def test_a_definition_that_reaches_beyond_the_execution_is_refused(
    forge: Callable[[dict[str, Any]], dict[str, Any]], problem: str
) -> None:
    event = {"execution_id": "exec-1", "definition": forge(deployed_definition())}
    with pytest.raises(SpecError, match=problem):
        register.handler(event, FakeLambdaContext())
    assert boto3.client("batch").describe_job_definitions()["jobDefinitions"] == []


def _other_execution_access_point() -> str:
    point = boto3.client("efs").create_access_point(
        ClientToken="other",
        FileSystemId="fs-test",
        RootDirectory={"Path": "/scratch/exec-2"},
        Tags=[{"Key": "demand:execution-id", "Value": "exec-2"}],
    )
    return str(point["AccessPointId"])


def _with_scratch_point(definition: dict[str, Any], ap: str) -> dict[str, Any]:
    volumes = [
        v
        | {
            "efsVolumeConfiguration": v["efsVolumeConfiguration"]
            | {
                "rootDirectory": "/",
                "authorizationConfig": {"iam": "ENABLED", "accessPointId": ap},
            }
        }
        if v["name"] == "scratch"
        else v
        for v in definition["containerProperties"]["volumes"]
    ]
    return _forged(definition, volumes=volumes)


@pytest.mark.usefixtures("aws")
def test_the_executions_own_access_point_is_accepted() -> None:
    point = boto3.client("efs").create_access_point(
        ClientToken="own",
        FileSystemId="fs-test",
        RootDirectory={"Path": "/scratch/exec-1"},
        Tags=[{"Key": "demand:execution-id", "Value": "exec-1"}],
    )["AccessPointId"]
    definition = _with_scratch_point(deployed_definition(), point)
    result = register.handler(
        {"execution_id": "exec-1", "definition": definition}, FakeLambdaContext()
    )
    assert result["job_definition_arn"].endswith("demand-test_exec-1:1")
