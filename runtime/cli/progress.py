"""The one rich progress bar of the command line: objects and bytes of one or more syncs.

``demand sync`` draws one for its sync; ``demand run`` one per stage, which every request of the
stage reports into. Thread-safe: a stage's syncs run concurrently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from runtime.local.runner import ProgressFactory, StagingProgress
from runtime.sync.model import SyncRequest
from runtime.sync.progress import Outcome, ProgressSubscriber
from runtime.sync.report import count_of, human_size


class BinarySpeedColumn(ProgressColumn):
    """Bytes per second in KiB / MiB / GiB, the units of the sizes beside it and of the
    summaries (rich's own speed column counts in powers of 1000)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("?", style="progress.data.speed")
        return Text(f"{human_size(int(speed))}/s", style="progress.data.speed")


class SyncBar(StagingProgress, ProgressSubscriber):
    """Bytes against the bytes found so far, and files done against files found, with the
    rate and the time left at that rate. Transient: gone from the terminal once closed.

    The bytes are the transfer's own reports: the CRT reports a part's bytes once the part is
    sent or received, batched to at most one report a second per object by its Python binding
    (awscrt's ``s_record_progress``), and a streamed download reports each piece written to
    disk; boto3 reports each chunk. So the bar moves at least once a second while bytes move.
    """

    def __init__(
        self, console: Console, label: str, *, get_time: Callable[[], float] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[objects]}"),
            DownloadColumn(binary_units=True),
            BinarySpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            get_time=get_time,  # tests drive the clock the rate and ETA are computed from
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
        objects = f"{self._objects_done}/{count_of(self._objects_total, 'file')}"
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
