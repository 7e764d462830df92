"""The stager lock: one downloader per shared input, across processes and machines.

Why ``fcntl`` byte-range locks on a lock file, rather than an ``O_CREAT|O_EXCL`` lock file:

- A lock file that exists until its owner removes it outlives an owner that dies (SIGKILL,
  a Lambda killed at its timeout, a lost machine). Recovering needs a staleness rule —
  heartbeats and an age limit — and then two waiters can both judge it stale and both
  "break" it, or break a live owner whose heartbeat was delayed (GC pause, a frozen Lambda,
  clock skew between machines: EFS mtimes are set by the server's clock, not ours).
- A POSIX lock is released by the kernel the moment its process dies; on NFSv4 — which EFS
  speaks — locks are leased and the server drops a dead client's locks when its lease
  expires (about a minute and a half). No heuristics, no heartbeat thread.

POSIX locks belong to a process, not a thread, so threads of one process are kept apart by a
``threading.Lock`` per lock file as well. The lock file is never deleted: unlinking it while
another process waits on the old inode would let two processes lock two different files.
Waiting polls (non-blocking attempts) so that a waiter can give up at its deadline.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()

POLL_START = 0.02
POLL_MAX = 0.5


def _thread_lock(path: Path) -> threading.Lock:
    key = os.path.realpath(path)
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


class StagerLock:
    """Exclusive ownership of a destination: ``try_acquire()`` or ``acquire()``, ``release()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = _thread_lock(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if not self._thread_lock.acquire(blocking=False):
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except BaseException:
            self._thread_lock.release()
            raise
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            os.close(fd)
            self._thread_lock.release()
            return False
        except BaseException:
            os.close(fd)
            self._thread_lock.release()
            raise
        # Who holds it, for a human looking at a stuck stage-in (not used by the protocol).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.uname().nodename} {os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(
        self,
        *,
        until: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        while_waiting: Callable[[], bool] | None = None,
    ) -> bool:
        """Wait for the lock. Gives up (False) at ``until`` or when ``while_waiting`` — called
        between attempts — returns True (e.g. "someone else finished the work")."""
        delay = POLL_START
        while not self.try_acquire():
            if while_waiting is not None and while_waiting():
                return False
            if until is not None and clock() + delay >= until:
                return False
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX)
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None
            self._thread_lock.release()
