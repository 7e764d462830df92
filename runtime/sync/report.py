"""How a sync's outcome is told: the short JSON form and the one-line summary.

Plain functions over the counts, shared by ``demand sync``, ``python -m runtime.sync`` and the
local runner's report; no pydantic, so the engine's lean command line can use them too.
"""

from __future__ import annotations

from runtime.sync.model import SyncResult


def brief(counts: SyncResult) -> dict[str, int | float]:
    """What ``--json`` prints."""
    return {
        "transferred": counts.transferred,
        "skipped": counts.skipped,
        "failed": counts.failed,
        "bytes": counts.bytes,
        "seconds": counts.seconds,
    }


def summary_line(counts: SyncResult) -> str:
    rate = counts.bytes / counts.seconds / 2**20 if counts.seconds > 0 else 0.0
    text = (
        f"{counts.transferred} transferred, {counts.skipped} skipped, {counts.failed} failed"
        + (f", {counts.deleted} deleted" if counts.deleted else "")
        + f"; {human_size(counts.bytes)} in {counts.seconds:.2f} s ({rate:.1f} MiB/s)"
    )
    return text + (" — cache hit" if counts.cache_hit else "")


def dry_run_line(counts: SyncResult) -> str:
    """A dry run's summary: what would have been done."""
    text = (
        f"dry run: would copy {count_of(counts.transferred, 'file')} "
        f"({human_size(counts.bytes)})"
        + (f", delete {counts.deleted}" if counts.deleted else "")
        + f"; {counts.skipped} already current"
    )
    return text + (f"; {counts.failed} failed" if counts.failed else "")


def human_size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def count_of(count: int, noun: str) -> str:
    """``"1 file"``, ``"2 files"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
