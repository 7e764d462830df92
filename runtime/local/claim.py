"""A run's claim on its execution id: one live ``demand run`` per execution id and local root.

The claim is an exclusive ``flock`` on ``<root>/locks/<execution_id>.lock``, outside the working
dir (no job can reach it), held for the whole run and released by the kernel when the runner
dies, however it dies. The lock file also records how the last run holding it ended:

- ``running``: it never ended — killed, or its machine stopped. Its working dir is left over,
  no live runner holds it: the next run removes it (without following links out) and goes on;
- ``kept``: it ended and left its working dir on purpose (``--keep``, or the cleanup policy):
  the next run refuses it rather than mixing two runs; the user removes it when done with it;
- ``done``: it ended and cleaned up.

A working dir with no lock file beside it is of unknown origin, and refused as a kept one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtime.errors import DemandError, PlanError

State = Literal["running", "kept", "done"]
RUNNING: State = "running"


class ConcurrentRunError(DemandError):
    """Another live ``demand run`` holds this execution id."""


@dataclass
class Claim:
    lock_file: Path
    descriptor: int
    took_over: bool = False

    def release(self, *, kept: bool) -> None:
        """Record how the run ended, and let the next run of this execution id in."""
        try:
            _write_state(self.descriptor, "kept" if kept else "done")
        finally:
            os.close(self.descriptor)


def claim_execution(
    locks: Path, execution_id: str, working: Path, remove_left_over: Callable[[], None]
) -> Claim:
    """Take the execution id for this run, then make its (empty) working dir.

    ``remove_left_over`` removes what a run that never ended left behind; it is called, with
    the claim held, only for such a run's working dir.
    """
    locks.mkdir(parents=True, exist_ok=True)
    lock_file = locks / f"{execution_id}.lock"
    descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConcurrentRunError(
                f"{execution_id} is being run now by another demand run (it holds "
                f"{lock_file}): wait for that run to end, or use another execution_id"
            ) from None
        took_over = False
        if working.exists() or working.is_symlink():
            if _read_state(descriptor) != RUNNING:
                raise PlanError(
                    f"the working dir of {execution_id} is left from an earlier run: "
                    f"remove {working} or use another execution_id"
                )
            remove_left_over()
            took_over = True
        _write_state(descriptor, RUNNING)
        working.parent.mkdir(parents=True, exist_ok=True)
        working.mkdir()
    except BaseException:
        os.close(descriptor)
        raise
    return Claim(lock_file=lock_file, descriptor=descriptor, took_over=took_over)


def _read_state(descriptor: int) -> str:
    os.lseek(descriptor, 0, os.SEEK_SET)
    return os.read(descriptor, 64).decode("utf-8", "replace").strip()


def _write_state(descriptor: int, state: State) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{state}\n".encode(), 0)
    os.fsync(descriptor)
