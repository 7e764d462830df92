"""The ledger: which items, in listing order, are finished — the basis of the cursor.

Items open in listing order (on the thread that walks the listing) and close in any order
(on transfer threads). The *watermark* is the last relpath up to which every item closed
successfully; it only moves forward, and a failed or cancelled item stops it for good, so a
resumed sync retries that item.
"""

from __future__ import annotations

import threading
from collections import deque

DIGEST_MODULUS = 1 << 256


class Slot:
    __slots__ = ("closed", "contribution", "ok", "relpath")

    def __init__(self, relpath: str, contribution: int | None) -> None:
        self.relpath = relpath
        self.contribution = contribution
        self.closed = False
        self.ok = False


class Ledger:
    def __init__(self, *, after: str | None = None, digest: int = 0, count: int = 0) -> None:
        self._lock = threading.Lock()
        self._open: deque[Slot] = deque()
        self._blocked = False
        self.watermark = after
        self.digest = digest
        self.count = count

    def open(self, relpath: str, contribution: int | None = None) -> Slot:
        """Start tracking an item; a source entry's ``contribution`` joins the digest when done."""
        slot = Slot(relpath, contribution)
        with self._lock:
            self._open.append(slot)
        return slot

    def record(self, relpath: str, contribution: int | None = None) -> None:
        """An item that is done as soon as it is seen (already current, or nothing to do)."""
        self.close(self.open(relpath, contribution), ok=True)

    def close(self, slot: Slot, *, ok: bool) -> None:
        with self._lock:
            slot.closed, slot.ok = True, ok
            while self._open and self._open[0].closed:
                done = self._open.popleft()
                if not done.ok:
                    self._blocked = True
                if self._blocked:
                    continue
                self.watermark = done.relpath
                if done.contribution is not None:
                    self.digest = (self.digest + done.contribution) % DIGEST_MODULUS
                    self.count += 1

    @property
    def backlog(self) -> int:
        """Items open or waiting behind an open one (bounds memory on a slow first object)."""
        return len(self._open)

    @property
    def complete(self) -> bool:
        """Nothing open and nothing failed: the watermark covers everything seen."""
        with self._lock:
            return not self._open and not self._blocked
