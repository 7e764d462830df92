from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from runtime.errors import PlanError
from runtime.handlers import cleanup, prepare, register
from tests.lambda_context import FakeLambdaContext, load_event
from tests.runtime.specs import spec_dict


def test_cleanup_removes_the_working_dir(efs: Path) -> None:
    (efs / "scratch/exec-1/sub").mkdir(parents=True)
    (efs / "shared/keep").mkdir(parents=True)
    (efs / "control/exec-1").mkdir(parents=True)
    result = cleanup.handler(load_event("cleanup"), FakeLambdaContext())
    assert result == {"removed": ["efs://fs-test:/scratch/exec-1", "efs://fs-test:/control/exec-1"]}
    assert not (efs / "scratch/exec-1").exists()
    assert (efs / "shared/keep").exists()


def test_cleanup_releases_the_executions_access_points_and_definition(efs: Path) -> None:
    prepared = prepare.handler({"spec": spec_dict()}, FakeLambdaContext())
    batch, file_system = boto3.client("batch"), boto3.client("efs")
    register.handler(prepared["job"], FakeLambdaContext())
    other = prepare.handler({"spec": spec_dict() | {"execution_id": "exec-2"}}, FakeLambdaContext())
    register.handler(other["job"], FakeLambdaContext())

    cleanup.handler({"cleanup": prepared["cleanup"], "status": "SUCCEEDED"}, FakeLambdaContext())

    left = file_system.describe_access_points(FileSystemId="fs-test")["AccessPoints"]
    assert [p["RootDirectory"]["Path"] for p in left] == ["/scratch/exec-2"]
    active = batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert [d["jobDefinitionName"] for d in active] == ["demand-test-exec-2"]


def test_cleanup_refuses_a_plan_that_points_elsewhere(efs: Path) -> None:
    (efs / "shared/keep").mkdir(parents=True)
    event = load_event("cleanup")
    event["cleanup"]["requests"].append({"path": "efs://fs-test:/shared"})
    with pytest.raises(PlanError, match="cleanup refused"):
        cleanup.handler(event, FakeLambdaContext())
    assert (efs / "shared/keep").exists()
