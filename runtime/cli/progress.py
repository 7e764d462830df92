"""The one rich progress bar of the command line: objects and bytes of one or more syncs.

``demand sync`` draws one for its sync; ``demand run`` one per stage, which every request of the
stage reports into. Thread-safe: a stage's syncs run concurrently.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from runtime.local.runner import ProgressFactory, StagingProgress
from runtime.sync.model import SyncRequest
from runtime.sync.progress import Outcome, ProgressSubscriber


class SyncBar(StagingProgress, ProgressSubscriber):
    """Bytes against the bytes found so far, and objects done against objects found."""

    def __init__(self, console: Console, label: str) -> None:
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[objects]}"),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID = self._progress.add_task(label, total=0, objects="")
        self._bytes_total = 0
        self._objects_total = 0
        self._objects_done = 0
        self._progress.start()

    def subscriber(self, request: SyncRequest) -> ProgressSubscriber:
        return self

    def on_total(self, objects: int, bytes: int) -> None:
        with self._lock:
            self._bytes_total += bytes
            self._objects_total += objects
            self._update()

    def on_progress(self, bytes: int) -> None:
        self._progress.advance(self._task, bytes)

    def on_done(self, name: str, outcome: Outcome) -> None:
        if outcome in {"skipped", "deleted"}:
            return
        with self._lock:
            self._objects_done += 1
            self._update()

    def _update(self) -> None:
        objects = f"{self._objects_done}/{self._objects_total} objects"
        self._progress.update(self._task, total=self._bytes_total, objects=objects)

    def close(self) -> None:
        self._progress.stop()


def staging_progress(console: Console) -> ProgressFactory:
    """A bar per stage on a terminal; nothing at all when output is redirected."""

    def factory(stage: str, requests: Sequence[SyncRequest]) -> StagingProgress:
        if not console.is_terminal or not requests:
            return StagingProgress()
        return SyncBar(console, "staging in" if stage == "stage_in" else "staging out")

    return factory
