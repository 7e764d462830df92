"""Rich progress bars for staging in ``demand run``: one bar per stage, objects and bytes."""

from __future__ import annotations

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


class _StageBar(StagingProgress, ProgressSubscriber):
    """One bar for a whole stage; every request's sync reports into it (thread-safe)."""

    def __init__(self, console: Console, stage: str) -> None:
        self._objects = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]}"),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        label = "staging in" if stage == "stage_in" else "staging out"
        self._task: TaskID = self._objects.add_task(label, total=0, files="")
        self._bytes_total = 0
        self._files_total = 0
        self._files_done = 0
        self._objects.start()

    def subscriber(self, request: SyncRequest) -> ProgressSubscriber:
        return self

    def on_total(self, objects: int, bytes: int) -> None:
        self._bytes_total += bytes
        self._files_total += objects
        self._objects.update(self._task, total=self._bytes_total, files=self._files())

    def on_progress(self, bytes: int) -> None:
        self._objects.advance(self._task, bytes)

    def on_done(self, name: str, outcome: Outcome) -> None:
        self._files_done += 1
        self._objects.update(self._task, files=self._files())

    def _files(self) -> str:
        return f"{self._files_done}/{self._files_total} files"

    def close(self) -> None:
        self._objects.stop()


def staging_progress(console: Console) -> ProgressFactory:
    """Bars on a terminal; nothing at all when output is redirected."""

    def factory(stage: str, requests: Sequence[SyncRequest]) -> StagingProgress:
        if not console.is_terminal or not requests:
            return StagingProgress()
        return _StageBar(console, stage)

    return factory
