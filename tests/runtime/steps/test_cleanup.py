from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from runtime.errors import PlanError, TransientAwsError
from runtime.plan.builder import build_plan
from runtime.plan.configuration import ContextConfiguration
from runtime.plan.models import CleanupRequest
from runtime.spec import parse_spec
from runtime.steps.access_points import ExecutionResources
from runtime.steps.cleanup import CleanupItem, clean_up_execution
from runtime.steps.prepare import state_machine_view
from runtime.steps.roots import ExecutionRoots
from runtime.steps.workdir import prepare_working_dir
from runtime.volumes import EfsMount, VolumeConfiguration
from tests.runtime.specs import spec_dict

VOLUMES = VolumeConfiguration(file_system_id="fs-1", use_tmp_volume=True)
CONTROL = "efs://fs-1:/control/exec-1"


def mounts(root: Path) -> list[EfsMount]:
    return [EfsMount(file_system_id="fs-1", local_path=root)]


def prepared(root: Path, **context: object) -> CleanupItem:
    plan = build_plan(parse_spec(spec_dict()), VOLUMES, ContextConfiguration(**context))
    prepare_working_dir(plan, ExecutionRoots.of(plan.execution_id, VOLUMES), mounts(root))
    (root / "scratch/exec-1/out.txt").write_text("result")
    (root / "shared/cached").mkdir(parents=True)
    return CleanupItem(execution_id=plan.execution_id, requests=plan.cleanup)


def clean(root: Path, item: CleanupItem, *, succeeded: bool = True) -> list[str]:
    return clean_up_execution(item, volumes=VOLUMES, mounts=mounts(root), succeeded=succeeded)


def test_removes_working_and_tmp_dirs_only(tmp_path: Path) -> None:
    item = prepared(tmp_path)
    assert clean(tmp_path, item) == [
        "efs://fs-1:/scratch/exec-1",
        "efs://fs-1:/tmp/exec-1",
        CONTROL,  # the stored plan goes too
    ]
    assert not (tmp_path / "scratch/exec-1").exists()
    assert not (tmp_path / "control/exec-1").exists()
    assert not (tmp_path / "tmp/exec-1").exists()
    assert (tmp_path / "shared/cached").is_dir()
    # Twice is harmless: a retried cleanup finds nothing left to do.
    assert clean(tmp_path, item) == []


def test_failure_policy_can_keep_the_working_dir(tmp_path: Path) -> None:
    item = prepared(tmp_path, keep_working_dir_on_failure=True)
    assert clean(tmp_path, item, succeeded=False) == [CONTROL]
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
    requests = [*(item.requests or []), CleanupRequest(path=path)]
    hostile = item.model_copy(update={"requests": requests})
    with pytest.raises(PlanError, match="cleanup refused"):
        clean(tmp_path, hostile)
    # Checked before anything is removed: not even the legitimate paths went.
    assert (tmp_path / "scratch/exec-1/out.txt").exists()
    assert (tmp_path / "shared/cached").is_dir()


def test_refuses_an_execution_id_that_is_a_path(tmp_path: Path) -> None:
    item = CleanupItem(execution_id="..", requests=[CleanupRequest(path="efs://fs-1:/scratch")])
    with pytest.raises(PlanError, match="not an execution id"):
        clean(tmp_path, item)


def test_symlinks_left_by_the_job_are_not_followed_out(tmp_path: Path) -> None:
    item = prepared(tmp_path)
    cached = tmp_path / "shared/cached/input.txt"
    cached.write_text("shared by every execution")
    (tmp_path / "scratch/exec-1/link").symlink_to(tmp_path / "shared/cached")
    hostile = item.model_copy(
        update={"requests": [CleanupRequest(path="efs://fs-1:/scratch/exec-1/link/input.txt")]}
    )
    with pytest.raises(PlanError, match="leads outside"):
        clean(tmp_path, hostile)
    assert cached.exists()
    # The refusal did not keep the rest from going: the control dir went after it.
    assert not (tmp_path / "control/exec-1").exists()
    # The link itself, and a working dir the job swapped for a link, go; their targets stay.
    assert clean(tmp_path, item) == ["efs://fs-1:/scratch/exec-1", "efs://fs-1:/tmp/exec-1"]
    (tmp_path / "scratch/exec-1").symlink_to(tmp_path / "shared/cached")
    assert clean(tmp_path, item) == ["efs://fs-1:/scratch/exec-1"]
    assert cached.exists()


def test_many_cleanup_requests_are_read_from_the_stored_plan(tmp_path: Path) -> None:
    params = {f"in_{i}": f"s3://bucket/inputs/{i:05}.txt" for i in range(2000)} | {"o": "o"}
    spec = spec_dict(command=["run"], params=params, inputs=list(params)[:-1], outputs=["o"])
    context = ContextConfiguration(
        isolate_inputs=True, cleanup_working_dir=False, cleanup_inputs=True
    )
    plan = build_plan(parse_spec(spec), VOLUMES, context)
    prepare_working_dir(plan, ExecutionRoots.of(plan.execution_id, VOLUMES), mounts(tmp_path))
    view = state_machine_view(plan)
    # Only the execution id travels: the stored plan is found from it, in the control dir.
    assert view["cleanup"] == {"execution_id": "exec-1", "requests": None}
    assert len(json.dumps(view)) < 64 * 1024
    (tmp_path / "scratch/exec-1/in_0.txt").write_text("isolated input")
    (tmp_path / "scratch/exec-1/00000.txt").write_text("isolated input")
    item = CleanupItem.model_validate(view["cleanup"])
    assert "efs://fs-1:/scratch/exec-1/00000.txt" in clean(tmp_path, item)
    assert not (tmp_path / "scratch/exec-1/00000.txt").exists()


class FailingRelease:
    def release(self, roots: ExecutionRoots) -> list[str]:
        raise TransientAwsError("throttled")


def test_a_failed_release_still_removes_the_files_but_keeps_the_stored_plan(
    tmp_path: Path,
) -> None:
    item = prepared(tmp_path)
    stored = item.model_copy(update={"requests": None})
    with pytest.raises(TransientAwsError):
        clean_up_execution(
            stored,
            volumes=VOLUMES,
            mounts=mounts(tmp_path),
            succeeded=True,
            resources=cast("ExecutionResources", FailingRelease()),
        )
    assert not (tmp_path / "scratch/exec-1").exists()
    assert not (tmp_path / "tmp/exec-1").exists()
    # The state machine retries the step: the retry reads the stored plan again.
    assert (tmp_path / "control/exec-1").is_dir()
    assert clean(tmp_path, stored) == [CONTROL]
