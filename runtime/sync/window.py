"""The in-flight window: how many transfers may be under way at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Window:
    """Bounds the transfers in flight. The walker, when the window is full, sleeps until a
    batch of slots is free rather than waking for every single one (thousands of wake-ups a
    second otherwise, each taking the GIL from the threads finishing transfers).

    Waits without a time limit still wake every ``wake`` seconds, so that a signal handler
    runs promptly on a waiting main thread; :meth:`close` makes waiting acquirers give up.
    """

    def __init__(
        self, size: int, clock: Callable[[], float] = time.monotonic, wake: float = 0.5
    ) -> None:
        self.size = size
        self._clock = clock
        self._wake = wake
        self.batch = max(1, size // 8)
        self.used = 0
        self._changed = threading.Condition(threading.Lock())
        self._waiting = False
        self._closed = False

    def close(self) -> None:
        """No more slots: acquirers waiting now or later get False."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def acquire(self, until: float | None) -> bool:
        with self._changed:
            while self.used >= self.size or self._closed:
                if self._closed:
                    return False
                self._waiting = True
                if until is None:
                    self._changed.wait(self._wake)
                else:
                    remaining = until - self._clock()
                    if remaining <= 0:
                        return False
                    self._changed.wait(min(remaining, 0.05))
            self.used += 1
            return True

    def release(self) -> None:
        with self._changed:
            self.used -= 1
            if self.used == 0 or (self._waiting and self.used <= self.size - self.batch):
                self._waiting = False
                self._changed.notify_all()

    def wait_empty(self, until: float | None) -> bool:
        """Wait for every slot to be released; False if ``until`` (a clock time) came first."""
        with self._changed:
            while self.used > 0:
                if until is None:
                    self._changed.wait(self._wake)
                    continue
                remaining = until - self._clock()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.5))
            return True
