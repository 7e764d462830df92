from __future__ import annotations

from pathlib import Path

import pytest

from runtime.errors import PlanError
from runtime.handlers import cleanup
from tests.lambda_context import FakeLambdaContext, load_event


def test_cleanup_removes_the_working_dir(efs: Path) -> None:
    (efs / "scratch/exec-1/sub").mkdir(parents=True)
    (efs / "shared/keep").mkdir(parents=True)
    result = cleanup.handler(load_event("cleanup"), FakeLambdaContext())
    assert result == {"removed": ["efs://fs-test:/scratch/exec-1"]}
    assert not (efs / "scratch/exec-1").exists()
    assert (efs / "shared/keep").exists()


def test_cleanup_refuses_a_plan_that_points_elsewhere(efs: Path) -> None:
    (efs / "shared/keep").mkdir(parents=True)
    event = load_event("cleanup")
    event["cleanup"]["requests"].append({"path": "efs://fs-test:/shared"})
    with pytest.raises(PlanError, match="cleanup refused"):
        cleanup.handler(event, FakeLambdaContext())
    assert (efs / "shared/keep").exists()
