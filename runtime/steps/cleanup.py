"""The Clean up step: remove the execution's working files, its access points, its job
definition and its control data — and nothing else."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from runtime.plan.models import CleanupRequest
from runtime.steps.access_points import ExecutionResources
from runtime.steps.roots import ExecutionRoots
from runtime.steps.workdir import clean_up, read_plan
from runtime.volumes import EfsMount, VolumeConfiguration, efs_to_local


class CleanupItem(BaseModel):
    """What Prepare hands the state machine for the last step: the requests themselves, or
    None when there are many (e.g. one per isolated input): then the stored plan's."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    requests: list[CleanupRequest] | None = None

    def load_requests(
        self, roots: ExecutionRoots, mounts: Sequence[EfsMount]
    ) -> list[CleanupRequest]:
        if self.requests is not None:
            return self.requests
        return read_plan(roots, mounts).cleanup


def clean_up_execution(
    item: CleanupItem,
    *,
    volumes: VolumeConfiguration,
    mounts: Sequence[EfsMount],
    succeeded: bool,
    resources: ExecutionResources | None = None,
) -> list[str]:
    """Remove what ``item`` asks for, within the execution's own dirs; return what went.

    Then, whatever the policy kept, what the execution held in the deployment: its access
    points and job definition (``resources``, when deployed) and its control dir.
    """
    roots = ExecutionRoots.of(item.execution_id, volumes)
    requests = item.load_requests(roots, mounts)
    removed = clean_up(requests, roots=roots.own, mounts=mounts, succeeded=succeeded)
    if resources is not None:
        removed += resources.release(roots)
    control = efs_to_local(roots.control, mounts)
    if control.is_dir() and not control.is_symlink():
        shutil.rmtree(control)
        removed.append(str(roots.control))
    return removed
