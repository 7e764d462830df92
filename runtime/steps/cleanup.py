"""The Clean up step: remove the execution's working files, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from runtime.plan import CleanupRequest
from runtime.volumes import EfsMount, VolumeConfiguration
from runtime.workdir import clean_up, execution_roots


class CleanupItem(BaseModel):
    """What Prepare hands the state machine for the last step."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    requests: list[CleanupRequest]


def clean_up_execution(
    item: CleanupItem,
    *,
    volumes: VolumeConfiguration,
    mounts: Sequence[EfsMount],
    succeeded: bool,
) -> list[str]:
    """Remove what ``item`` asks for, within the execution's own dirs; return what went."""
    roots = execution_roots(item.execution_id, volumes)
    return clean_up(item.requests, roots=roots, mounts=mounts, succeeded=succeeded)
