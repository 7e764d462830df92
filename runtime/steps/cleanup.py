"""The Clean up step: remove the execution's working files, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from runtime.plan.models import CleanupRequest
from runtime.steps.workdir import clean_up, execution_roots, read_plan
from runtime.volumes import EfsMount, VolumeConfiguration


class CleanupItem(BaseModel):
    """What Prepare hands the state machine for the last step: the requests themselves, or
    (when there are many, e.g. one per isolated input) a reference to the stored plan."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    requests: list[CleanupRequest] | None = None
    plan_ref: str | None = None

    def load_requests(self, mounts: Sequence[EfsMount]) -> list[CleanupRequest]:
        if self.requests is not None:
            return self.requests
        if self.plan_ref is None:
            raise ValueError("a cleanup item needs its requests or a plan reference")
        return read_plan(self.plan_ref, mounts).cleanup


def clean_up_execution(
    item: CleanupItem,
    *,
    volumes: VolumeConfiguration,
    mounts: Sequence[EfsMount],
    succeeded: bool,
) -> list[str]:
    """Remove what ``item`` asks for, within the execution's own dirs; return what went."""
    roots = execution_roots(item.execution_id, volumes)
    requests = item.load_requests(mounts)
    return clean_up(requests, roots=roots, mounts=mounts, succeeded=succeeded)
