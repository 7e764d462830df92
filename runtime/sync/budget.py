"""A byte budget: how much of the bodies in flight the engine itself may hold in memory.

The CRT keeps its part buffers within its own memory limit, but two kinds of bodies live
outside it: a single PUT's body (the CRT reads the whole file into one buffer, measured: a
2 GiB PUT took 2.1 GB resident, 64 PUTs of 15 MiB 431 MiB) and the chunks a streamed download
has copied but not yet written (:mod:`runtime.sync.sink`). Both take their bytes from one
budget per client before they hold them and give them back once sent or written; a taker
waits while the budget is spent, so memory stays bounded however many and however large the
objects are.
"""

from __future__ import annotations

import threading


class ByteBudget:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a byte budget must hold at least one byte")
        self.capacity = capacity
        self.used = 0
        self.peak = 0  # the most ever held at once (tests, benchmarks)
        self._changed = threading.Condition(threading.Lock())

    def take(self, count: int) -> int:
        """Wait until ``count`` bytes are free and hold them; returns what is held, to give
        back. A body larger than the whole budget takes all of it (it waits for every other
        to be given back), so it still goes, alone."""
        count = min(max(count, 0), self.capacity)
        with self._changed:
            while self.used + count > self.capacity:
                self._changed.wait(0.5)
            self.used += count
            self.peak = max(self.peak, self.used)
        return count

    def give_back(self, count: int) -> None:
        if count <= 0:
            return
        with self._changed:
            self.used -= count
            self._changed.notify_all()
