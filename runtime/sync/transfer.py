"""What every direction of transfer shares: the mover protocol and partial files.

A *mover* knows one direction (S3 → files, files → S3, files → files): how to start moving
one entry, how to check a destination's content, how to delete. Files are always written
under a hidden *partial* name in their destination directory and renamed into place only
once verified, so a final name never holds a half-written or wrong file.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Protocol

from runtime.sync.backend import BytesCallback, Cancellable
from runtime.sync.errors import SyncFailed, as_sync_error
from runtime.sync.listing import PARTIAL_SUFFIX, Entry

# Partials of a process that died are removed by the next sync; on a file system shared by
# several machines (EFS), a partial untouched this long is taken for dead too.
ORPHAN_AGE_SECONDS = 15 * 60
# Name lengths are limited (255 bytes on most file systems): names longer than this many
# bytes are shortened to a prefix of ``SHORT_PREFIX`` bytes and a hash of the whole name.
MAX_NAME = 160
SHORT_PREFIX = 60

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_sequence = itertools.count()


# Called once when an entry's move ends (placed, or failed with this error); any thread.
MoveDone = Callable[[BaseException | None], None]


class Mover(Protocol):
    # Deletes are sent in batches of this many (S3 takes 1000 keys per request).
    delete_batch: int

    def start(self, src: Entry, on_bytes: BytesCallback, on_done: MoveDone) -> Cancellable:
        """Begin moving ``src`` to its place on the other side."""
        ...

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        """Whether ``dst`` already holds ``src``'s content (reads files: off the main thread)."""
        ...

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        """Delete destination entries; one message per failure."""
        ...


def safe_relpath(relpath: str, subject: str) -> str:
    """Refuse keys that cannot be files here: ``..``, ``.``, empty segments, NUL."""
    parts = relpath.split("/")
    if relpath and ("" in parts or "." in parts or ".." in parts or "\0" in relpath):
        raise SyncFailed(f"{subject}: key cannot be a local path safely: {relpath!r}")
    return relpath


def partial_path(final: str) -> str:
    """A hidden name next to ``final``, unique to this host, process and transfer.

    Plain strings, not ``Path``: this runs once per object, where pathlib's parsing costs
    as much as the rest of starting a transfer.
    """
    directory, _, name = final.rpartition("/")
    encoded = os.fsencode(name)
    if len(encoded) > MAX_NAME:
        name = _byte_prefix(encoded, SHORT_PREFIX) + hashlib.sha256(encoded).hexdigest()[:16]
    return f"{directory}/.{name}.{_HOST}-{os.getpid()}-{next(_sequence)}{PARTIAL_SUFFIX}"


def _byte_prefix(encoded: bytes, limit: int) -> str:
    """At most ``limit`` bytes of a file name, cut between (UTF-8) characters."""
    cut = min(limit, len(encoded))
    while 0 < cut < len(encoded) and encoded[cut] & 0xC0 == 0x80:
        cut -= 1
    return os.fsdecode(encoded[:cut])


class Completion:
    """Reports the end of one move to the engine exactly once, whatever happens on the way.

    Movers finish in callbacks on the transfer client's threads, where an exception is lost;
    a move that never reports leaves the engine waiting for ever. Wrap the finishing work in
    :meth:`guard`: an exception there is reported as the move's error.
    """

    def __init__(self, on_done: MoveDone, subject: str) -> None:
        self._on_done = on_done
        self.subject = subject
        self._reported = False
        self._lock = threading.Lock()

    def __call__(self, error: BaseException | None) -> None:
        with self._lock:
            if self._reported:
                return
            self._reported = True
        self._on_done(error)

    def fail(self, exc: BaseException) -> None:
        self(as_sync_error(exc, self.subject))

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Report any exception raised in the block (unless the move already reported)."""
        try:
            yield
        except BaseException as exc:
            self.fail(exc)


def remove_orphaned_partials(paths: Iterable[Path], *, all_of_them: bool = False) -> int:
    """Remove partial files whose writer is gone; ``all_of_them`` when the caller holds the
    destination's lock (no one else can be writing). Returns how many were removed."""
    removed = 0
    now = time.time()
    for path in paths:
        if all_of_them or _orphaned(path, now):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _orphaned(path: Path, now: float) -> bool:
    tag = PurePosixPath(path.name[: -len(PARTIAL_SUFFIX)]).suffix.lstrip(".")
    host, _, rest = tag.partition("-")
    pid = rest.partition("-")[0]
    if host == _HOST and pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # someone else's live process
    try:
        return now - path.stat().st_mtime > ORPHAN_AGE_SECONDS
    except FileNotFoundError:
        return False


class DirectoryMaker:
    """``mkdir -p`` that remembers what exists: one system call per new directory, not per file."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    def ensure(self, directory: str) -> None:
        if directory in self._known:
            return
        os.makedirs(directory, exist_ok=True)
        self._known.add(directory)


def delete_files(paths: Iterable[Path]) -> list[str]:
    """Remove files (never directories); one message per failure."""
    failures = []
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            failures.append(f"{path}: delete failed: {exc.strerror or exc}")
    return failures
