from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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
    assert [d["jobDefinitionName"] for d in active] == ["demand-test_exec-2"]


def test_cleanup_refuses_a_plan_that_points_elsewhere(efs: Path) -> None:
    (efs / "shared/keep").mkdir(parents=True)
    event = load_event("cleanup")
    event["cleanup"]["requests"].append({"path": "efs://fs-test:/shared"})
    with pytest.raises(PlanError, match="cleanup refused"):
        cleanup.handler(event, FakeLambdaContext())
    assert (efs / "shared/keep").exists()


def refuse_a_request(event: dict[str, Any], efs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event["cleanup"]["requests"].append({"path": "efs://fs-test:/shared"})


def fail_removing_the_working_dir(
    event: dict[str, Any], efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remove = shutil.rmtree

    def failing(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path) == efs / "scratch/exec-1":
            raise OSError("timed out removing a large working dir")
        remove(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", failing)


@pytest.mark.parametrize(
    ("break_removal", "error"),
    [(refuse_a_request, PlanError), (fail_removing_the_working_dir, OSError)],
)
def test_a_failed_file_removal_still_releases_the_access_points_and_definition(
    efs: Path, monkeypatch: pytest.MonkeyPatch, break_removal: Any, error: type[Exception]
) -> None:
    prepared = prepare.handler({"spec": spec_dict()}, FakeLambdaContext())
    register.handler(prepared["job"], FakeLambdaContext())
    (efs / "scratch/exec-1/out.txt").write_text("result")
    event = {"cleanup": prepared["cleanup"], "status": "SUCCEEDED"}
    break_removal(event, efs, monkeypatch)

    with pytest.raises(error):
        cleanup.handler(event, FakeLambdaContext())

    assert boto3.client("efs").describe_access_points(FileSystemId="fs-test")["AccessPoints"] == []
    assert boto3.client("batch").describe_job_definitions(status="ACTIVE")["jobDefinitions"] == []
    assert (efs / "scratch/exec-1/out.txt").exists()  # what failed is left for a later look
    assert not (efs / "control/exec-1").exists()  # and the rest went
