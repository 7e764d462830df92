"""What every direction of transfer shares: the mover protocol and partial files.

A *mover* knows one direction (S3 → files, files → S3, files → files): how to start moving
one entry, how to check a destination's content, how to delete. Files are always written
under a hidden *partial* name in their destination directory and renamed into place only
once verified, so a final name never holds a half-written or wrong file.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Protocol

from runtime.sync.backend import BytesCallback, Cancellable
from runtime.sync.errors import SyncFailed
from runtime.sync.listing import PARTIAL_SUFFIX, Entry

# Partials of a process that died are removed by the next sync; on a file system shared by
# several machines (EFS), a partial untouched this long is taken for dead too.
ORPHAN_AGE_SECONDS = 15 * 60
# Name lengths are limited (255 bytes on most file systems): long names are shortened.
MAX_NAME = 160

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
    if len(name.encode()) > MAX_NAME:
        name = name[:60] + hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{directory}/.{name}.{_HOST}-{os.getpid()}-{next(_sequence)}{PARTIAL_SUFFIX}"


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
