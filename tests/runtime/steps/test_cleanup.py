from __future__ import annotations

from pathlib import Path

import pytest

from runtime.errors import PlanError
from runtime.plan import CleanupRequest, ContextConfiguration, build_plan
from runtime.spec import parse_spec
from runtime.steps.cleanup import CleanupItem, clean_up_execution
from runtime.volumes import EfsMount, VolumeConfiguration
from runtime.workdir import prepare_working_dir
from tests.runtime.specs import spec_dict

VOLUMES = VolumeConfiguration(file_system_id="fs-1", use_tmp_volume=True)


def mounts(root: Path) -> list[EfsMount]:
    return [EfsMount(file_system_id="fs-1", local_path=root)]


def prepared(root: Path, **context: object) -> CleanupItem:
    plan = build_plan(parse_spec(spec_dict()), VOLUMES, ContextConfiguration(**context))
    prepare_working_dir(plan, mounts(root))
    (root / "scratch/exec-1/out.txt").write_text("result")
    (root / "shared/cached").mkdir(parents=True)
    return CleanupItem(execution_id=plan.execution_id, requests=plan.cleanup)


def clean(root: Path, item: CleanupItem, *, succeeded: bool = True) -> list[str]:
    return clean_up_execution(item, volumes=VOLUMES, mounts=mounts(root), succeeded=succeeded)


def test_removes_working_and_tmp_dirs_only(tmp_path: Path) -> None:
    item = prepared(tmp_path)
    assert clean(tmp_path, item) == ["efs://fs-1:/scratch/exec-1", "efs://fs-1:/tmp/exec-1"]
    assert not (tmp_path / "scratch/exec-1").exists()
    assert not (tmp_path / "tmp/exec-1").exists()
    assert (tmp_path / "shared/cached").is_dir()
    # Twice is harmless: a retried cleanup finds nothing left to do.
    assert clean(tmp_path, item) == []


def test_failure_policy_can_keep_the_working_dir(tmp_path: Path) -> None:
    item = prepared(tmp_path, keep_working_dir_on_failure=True)
    assert clean(tmp_path, item, succeeded=False) == []
    assert (tmp_path / "scratch/exec-1/out.txt").exists()


@pytest.mark.parametrize(
    "path",
    [
        "efs://fs-1:/shared",
        "efs://fs-1:/scratch",
        "efs://fs-1:/scratch/exec-10",
        "efs://fs-1:/scratch/other",
        "efs://fs-2:/scratch/exec-1",
        "efs://fs-1:/",
    ],
)
def test_refuses_paths_outside_the_execution(tmp_path: Path, path: str) -> None:
    item = prepared(tmp_path)
    hostile = item.model_copy(update={"requests": [*item.requests, CleanupRequest(path=path)]})
    with pytest.raises(PlanError, match="cleanup refused"):
        clean(tmp_path, hostile)
    # Checked before anything is removed: not even the legitimate paths went.
    assert (tmp_path / "scratch/exec-1/out.txt").exists()
    assert (tmp_path / "shared/cached").is_dir()


def test_refuses_an_execution_id_that_is_a_path(tmp_path: Path) -> None:
    item = CleanupItem(execution_id="..", requests=[CleanupRequest(path="efs://fs-1:/scratch")])
    with pytest.raises(PlanError, match="not an execution id"):
        clean(tmp_path, item)
