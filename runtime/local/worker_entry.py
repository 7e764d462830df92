"""A run set's worker process (runtime/local/set_worker.py): the standard library only until the
worker is imported, as runtime/cli/entry.py does for the command.

A stop signal while the worker is still importing (a loaded machine takes seconds) ends it
quietly, 128 + the signal, no row started. The kernel sends the worker SIGTERM when its set
runner dies (``PR_SET_PDEATHSIG``; elsewhere a thread watches for it), so no row outlives the
set: the row is stopped and cleaned up as after Ctrl-C. Its stdout keeps the answers to the set
runner; everything else written to stdout (the job's output, which is in its log) goes nowhere.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _StoppedWhileStartingError(Exception):
    pass


def _stopped(signum: int, _frame: FrameType | None) -> None:
    raise _StoppedWhileStartingError(signum)


def die_with_parent(parent: int) -> None:
    """SIGTERM when the set runner dies, as the job's guard does (runtime/local/guard.py)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    for number in STOP_SIGNALS:
        signal.signal(number, _stopped)
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        die_with_parent(int(os.environ.get("DEMAND_SET_RUNNER_PID") or os.getppid()))
        from runtime.local.set_worker import run_rows
    except _StoppedWhileStartingError as stopped:
        return 128 + int(stopped.args[0])
    try:
        return run_rows(sys.stdin, answers)
    except _StoppedWhileStartingError as stopped:  # before the worker took the signals over
        return 128 + int(stopped.args[0])
    except BrokenPipeError:  # the set runner is gone: nobody to tell
        return 1


if __name__ == "__main__":
    sys.exit(main())
