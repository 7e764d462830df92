"""What a local run keeps about itself for ``demand report``: when each step ran, and what
each input and output moved.

The runner fills these in as it goes and writes the whole :class:`~runtime.local.runner.RunReport`
to ``<root>/runs/<execution_id>.json`` when it ends (the latest run of an id wins).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel


def now() -> datetime:
    return datetime.now(UTC)


class StepTiming(BaseModel):
    """One step's wall-clock span; ``ok`` is false for the step that failed."""

    name: str
    started_at: datetime
    ended_at: datetime
    ok: bool = True


class TransferRecord(BaseModel):
    """One stage-in or stage-out request: an input or output, as the sync engine reported it."""

    direction: Literal["stage_in", "stage_out"]
    name: str
    remote: str
    started_at: datetime
    ended_at: datetime
    # Bytes moved (0 for a cache hit or objects already current), objects moved and skipped.
    bytes: int = 0
    transferred: int = 0
    skipped: int = 0
    failed: int = 0
    cache_hit: bool = False
    # Bytes in place once it ended (the input's size on the stand-in for EFS; None: unknown).
    size: int | None = None


def run_record_path(runs: Path, execution_id: str) -> Path:
    return runs / f"{execution_id}.json"


def tree_size(path: Path) -> int | None:
    """Bytes of the regular files at or under ``path``, links not followed; None if absent."""
    if path.is_symlink() or not path.exists():
        return None
    if path.is_file():
        return path.stat().st_size
    total = 0
    for entry in path.rglob("*"):
        if entry.is_file() and not entry.is_symlink():
            total += entry.stat().st_size
    return total
