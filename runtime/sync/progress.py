"""Progress subscribers: how a CLI, the local runner or a test watches a sync.

Shaped like s3transfer's subscribers, but for a whole sync rather than one transfer. Callbacks
may arrive on any thread (the transfer client's own threads included), so they must be cheap
and thread-safe; a rich ``Progress`` is both.
"""

from __future__ import annotations

import threading
from typing import Literal, Protocol

Outcome = Literal["transferred", "skipped", "failed", "deleted"]


class SyncProgress(Protocol):
    def on_total(self, objects: int, bytes: int) -> None:
        """More work was found: ``objects`` more objects, ``bytes`` more bytes to transfer.

        The listing is streamed, so totals grow while the sync runs.
        """

    def on_progress(self, bytes: int) -> None:
        """``bytes`` more bytes of object bodies were moved (never negative)."""

    def on_done(self, name: str, outcome: Outcome) -> None:
        """One object (``name`` relative to the sync's root) is finished, one way or another."""


class ProgressSubscriber:
    """A subscriber that ignores everything: subclass it and override what you need."""

    def on_total(self, objects: int, bytes: int) -> None:
        return None

    def on_progress(self, bytes: int) -> None:
        return None

    def on_done(self, name: str, outcome: Outcome) -> None:
        return None


class ProgressCounter(ProgressSubscriber):
    """Adds everything up; handy in tests and for one-line summaries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.objects = 0
        self.total_bytes = 0
        self.bytes = 0
        self.outcomes: dict[str, Outcome] = {}

    def on_total(self, objects: int, bytes: int) -> None:
        with self._lock:
            self.objects += objects
            self.total_bytes += bytes

    def on_progress(self, bytes: int) -> None:
        with self._lock:
            self.bytes += bytes

    def on_done(self, name: str, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes[name] = outcome
