"""``demand run`` stopped by a signal: SIGINT (Ctrl-C), SIGTERM or SIGHUP end the run early.

While the run goes on, such a signal raises :class:`Interrupted` in the runner's main thread —
wherever it is: the job's launcher kills the job's whole process group on its way out, staging
stops — and the runner cleans up as after any failure. During the cleanup, signals are only
noted (``Stopper.received``): it runs to its end, and the run's outcome stands. (SIGKILL
cannot be caught: then the guard kills the job, and the next run of the execution id removes
what was left.)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """The run was told to stop by a signal."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """As a shell reports a process ended by this signal: 128 + its number."""
        return 128 + self.signum


class Stopper:
    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = True

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if self._raising:
            self._raising = False  # once: the run's own unwinding is not interrupted again
            raise Interrupted(signum)

    def finishing(self) -> None:
        """From now on (the cleanup), signals are only noted."""
        self._raising = False


@contextmanager
def stopped_by_signals() -> Iterator[Stopper]:
    """Handle the stop signals while the block runs; in the main thread only (elsewhere,
    e.g. a run in a worker thread, signals are left to whoever handles them)."""
    stopper = Stopper()
    if threading.current_thread() is not threading.main_thread():
        yield stopper
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, stopper.handle)
    try:
        yield stopper
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
