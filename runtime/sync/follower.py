"""The MD5 of a large download, computed while the transfer client is still writing it.

Verifying a download against an MD5 ETag costs a full read and ~1.4 ms of CPU per MiB; done
after the download, it adds that time to the transfer. A follower hashes behind the client's
write front instead: the client writes parts in parallel at their offsets, so the follower asks
the file system where the first hole is (``SEEK_HOLE``) and hashes the contiguous data before
it, sleeping briefly when it catches up. Its digest is a fast path only: should it have read a
region that was still being written (or a file system report every region as data), the digest
will not match and the caller hashes the finished file again, so a follower can never make a
wrong file pass.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading

# Followers at once (each a thread reading one file); beyond this, downloads hash afterwards.
MAX_FOLLOWERS = 8
BLOCK = 1 << 20
POLL_SECONDS = 0.005

_slots = threading.BoundedSemaphore(MAX_FOLLOWERS)


class HashFollower:
    def __init__(self, path: str) -> None:
        self._path = path
        self._written = threading.Event()
        self._digest: str | None = None
        self._thread = threading.Thread(target=self._follow, name="sync-follow", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, path: str) -> HashFollower | None:
        """A follower for ``path``, or None when enough are running already."""
        if not _slots.acquire(blocking=False):
            return None
        try:
            return cls(path)
        except BaseException:
            _slots.release()
            raise

    def finish(self) -> str | None:
        """The writer is done: the MD5 (hex) of the whole file, or None if it could not tell."""
        self._written.set()
        self._thread.join()
        return self._digest

    def _follow(self) -> None:
        try:
            self._digest = self._hash()
        except OSError:
            self._digest = None
        finally:
            _slots.release()

    def _hash(self) -> str | None:
        fd = self._open()
        if fd is None:
            return None
        digest = hashlib.md5()
        position = 0
        try:
            while True:
                finished = self._written.is_set()  # read before looking: no lost tail
                end = _data_end(fd, position)
                while position < end:
                    block = os.pread(fd, min(BLOCK, end - position), position)
                    if not block:
                        break
                    digest.update(block)
                    position += len(block)
                if finished:
                    return digest.hexdigest() if position == os.fstat(fd).st_size else None
                if position >= end:
                    self._written.wait(POLL_SECONDS)
        finally:
            os.close(fd)

    def _open(self) -> int | None:
        while True:
            try:
                return os.open(self._path, os.O_RDONLY)
            except FileNotFoundError:
                if self._written.wait(POLL_SECONDS):
                    return None


def _data_end(fd: int, position: int) -> int:
    """Where the data that starts at ``position`` ends (the next hole, or the end of file)."""
    try:
        return os.lseek(fd, position, os.SEEK_HOLE)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # at or past the end of what is written so far
            return position
        raise
