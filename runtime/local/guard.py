"""The job's guard: runs the job in its own process group and takes that group down with it.

``python guard.py RUNNER_PID [--stop WORD]... -- COMMAND...``, started by the local runner as the
leader of a new session. When the runner dies — killed with SIGKILL included — the kernel sends
the guard SIGTERM (``PR_SET_PDEATHSIG``); on that, or on SIGINT / SIGHUP, the guard runs the stop
command (the ``--stop`` words, e.g. ``docker kill NAME``: what the group's death alone would not
stop), then kills its whole process group: the job and every process it started that stayed in
the group. Otherwise it waits for the job and exits as the job did (a job killed by signal N:
128 + N, as a shell reports it).

Standard library only, so it runs as a plain script (``python -I -S``) before anything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_SECONDS = 0.5
STOP_COMMAND_SECONDS = 20
stop_command: list[str] = []


def take_down(_signum: int = 0, _frame: FrameType | None = None) -> None:
    """Run the stop command, then kill the guard's process group: the job, its children, and
    this process."""
    if stop_command:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                stop_command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=STOP_COMMAND_SECONDS,
                check=False,
            )
    os.killpg(0, signal.SIGKILL)


def die_with(runner: int) -> None:
    """Have the kernel tell us when the runner dies; where it cannot, watch for it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        threading.Thread(target=_watch, args=(runner,), daemon=True).start()
    if os.getppid() != runner:  # it died before we asked
        take_down()


def _watch(runner: int) -> None:
    while os.getppid() == runner:
        time.sleep(POLL_SECONDS)
    take_down()


def main(argv: list[str]) -> int:
    words = argv[2:]
    while len(words) >= 2 and words[0] == "--stop":
        stop_command.append(words[1])
        words = words[2:]
    if len(argv) < 2 or not argv[1].isdigit() or len(words) < 2 or words[0] != "--":
        print("usage: guard.py RUNNER_PID [--stop WORD]... -- COMMAND...", file=sys.stderr)
        return 2
    for stop in STOP_SIGNALS:
        signal.signal(stop, take_down)
    die_with(int(argv[1]))
    try:
        job = subprocess.Popen(words[1:])
    except OSError as exc:
        print(f"cannot start the job: {exc}", file=sys.stderr)
        return 127
    code = job.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
