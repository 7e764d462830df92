"""The Clean up step: release the execution's access points and job definition, remove its
working files and its control data — and nothing else."""

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
    """Release what the execution held in the deployment, remove what ``item`` asks for within
    its own dirs, then its control dir; return what went.

    In that order, so that no failure skips the rest: the requests are read first (they may be
    the stored plan, in the control dir); the access points and the job definition
    (``resources``, when deployed) are found from the execution id alone and go next, whatever
    the files do; the control dir goes last. Each part is attempted even when one before it
    failed, and the first error is raised at the end — except that the control dir is kept
    when the requests could not be read or the resources not released, so that a retry finds
    the stored plan again.
    """
    roots = ExecutionRoots.of(item.execution_id, volumes)
    errors: list[Exception] = []
    removed: list[str] = []
    requests: list[CleanupRequest] | None = None
    try:
        requests = item.load_requests(roots, mounts)
    except Exception as exc:  # raised below, once the resources are released
        errors.append(exc)
    if resources is not None:
        try:
            removed += resources.release(roots)
        except Exception as exc:  # raised below, once the files are removed
            errors.append(exc)
    keep_control = bool(errors)
    if requests is not None:
        try:
            # Every request is checked before anything is removed (see workdir.clean_up).
            removed += clean_up(requests, roots=roots.own, mounts=mounts, succeeded=succeeded)
        except Exception as exc:  # raised below, once the control dir is removed
            errors.append(exc)
    if not keep_control:
        try:
            control = efs_to_local(roots.control, mounts)
            if control.is_dir() and not control.is_symlink():
                shutil.rmtree(control)
                removed.append(str(roots.control))
        except Exception as exc:  # raised below
            errors.append(exc)
    if errors:
        raise errors[0]
    return removed
