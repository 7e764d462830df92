"""Interrupting a sync from outside: SIGTERM behaves as Ctrl-C does.

Python turns SIGINT into ``KeyboardInterrupt`` in the main thread; :func:`sigterm_interrupts`
makes SIGTERM raise :class:`Terminated`, a ``KeyboardInterrupt`` too, so that either one
reaches the engine's cancel path (:mod:`runtime.sync.engine`): nothing more starts, transfers
in flight are cancelled, and the clients abort the multipart uploads they created before the
command exits — 130 after SIGINT, 143 after SIGTERM (128 + the signal's number, as a shell
reports a process the signal ended). A second SIGTERM during that clean-up is ignored; a
second Ctrl-C, or SIGKILL, still ends the process at once (leaving what was in flight).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGINT_STATUS = 128 + signal.SIGINT
SIGTERM_STATUS = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised in the main thread, as Ctrl-C's ``KeyboardInterrupt`` is."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere a
    no-op: Python runs signal handlers in the main thread alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the clean-up finish
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_status(interrupt: KeyboardInterrupt) -> int:
    return SIGTERM_STATUS if isinstance(interrupt, Terminated) else SIGINT_STATUS
