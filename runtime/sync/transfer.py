"""What every direction of transfer shares: the mover protocol, completions, safe relpaths.

A *mover* knows one direction (S3 → files, files → S3, files → files): how to start moving
one entry, how to check a destination's content, how to delete. Files are always written
under a *partial* name (in a private directory next to the destination, see
:mod:`runtime.sync.localfs`) and renamed into place only once verified, so a final name never
holds a half-written or wrong file.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from runtime.sync.backend import BytesCallback, Cancellable
from runtime.sync.errors import SyncFailed, as_sync_error
from runtime.sync.listing import Entry

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


def delete_files(paths: Iterable[Path]) -> list[str]:
    """Remove files (never directories); one message per failure."""
    failures = []
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            failures.append(f"{path}: delete failed: {exc.strerror or exc}")
    return failures
