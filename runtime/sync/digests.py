"""Files already verified: which very file matched which ETag, so a re-sync does not read it.

A re-sync compares each file with its object; without a record that means reading and hashing
every file again (7 CPU-seconds at 100,000 files), although nothing changed. A file whose
device, inode, size, mtime and ctime are those recorded when its content last matched an ETag
is that very file, unchanged: any write sets ctime to now, whatever mtime is put back
(``touch -r``), and a replacement has another inode. So the record vouches for that ETag and the
file is not read. Rows are written when a file's content was found to match (a content check)
and when a download placed a verified file; a row older than :data:`KEEP_DAYS` is dropped (the
file is read once more then).

File times tick coarsely (a few milliseconds): a file changed within the same tick as the stat
that was recorded would keep its ctime. So a row is written only for a file whose ctime was
at least :data:`SETTLED_NS` old when its content was checked (a file placed by this sync is
stat'ed again when the sync ends, and recorded only if it has settled by then): any change
after that moves its ctime, as git treats its "racily clean" index entries.

The record is a SQLite database (``DEMAND_SYNC_DIGESTS``: a path, or ``off``; by default
``$XDG_CACHE_HOME/demand/sync-digests.sqlite``), one per user, shared by the syncs that user
runs at once (WAL; a busy database is skipped). It is a cache: any error opening, reading or
writing it is a miss, never a failed sync. It is the user's own (mode 0600 in a 0700
directory); a job cannot reach it from a deployed environment's steps, which keep none.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from runtime.sync.listing import Entry, file_entry

VARIABLE = "DEMAND_SYNC_DIGESTS"
KEEP_DAYS = 30
# Rows waiting to be written are flushed in one transaction this many at a time.
FLUSH_EVERY = 5_000
BUSY_MILLISECONDS = 2_000
SETTLED_NS = 50_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verified (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, etag TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    verified REAL NOT NULL,
    PRIMARY KEY (dev, ino, etag)
) WITHOUT ROWID
"""

Row = tuple[int, int, str, int, int, int, float]


def default_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the record is kept, or None when ``DEMAND_SYNC_DIGESTS=off``."""
    env = os.environ if environ is None else environ
    chosen = env.get(VARIABLE, "").strip()
    if chosen.lower() in ("off", "none", "0", "false"):
        return None
    if chosen:
        return Path(chosen).expanduser()
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "demand" / "sync-digests.sqlite"


class DigestRecord:
    """The record of one sync: looked up on the walking thread, added to from any thread,
    written in batches and at :meth:`close`."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._opened = path is None  # nothing to open: always a miss
        self._pending: list[Row] = []
        self._placed: list[tuple[str, int, str]] = []

    def _open(self) -> sqlite3.Connection | None:
        if not self._opened:
            self._opened = True
            with contextlib.suppress(OSError, sqlite3.Error):
                self._connection = _connect(self._path)  # type: ignore[arg-type]
        return self._connection

    def vouches(self, src: Entry, dst: Entry) -> bool:
        """Whether the record says the local one of ``src`` / ``dst`` is the very file that
        was found to hold the other's ETag."""
        local, remote = (src, dst) if src.ino is not None else (dst, src)
        if local.ino is None or local.dev is None or remote.etag is None or local.refused:
            return False
        with self._lock:
            connection = self._open()
            if connection is None:
                return False
            try:
                found = connection.execute(
                    "SELECT size, mtime_ns, ctime_ns FROM verified "
                    "WHERE dev = ? AND ino = ? AND etag = ?",
                    (local.dev, local.ino, remote.etag),
                ).fetchone()
            except sqlite3.Error:
                return False
        return found is not None and tuple(found) == (
            local.size,
            local.mtime_ns,
            local.ctime_ns,
        )

    def add(self, local: Entry, etag: str | None, *, checked_from_ns: int) -> None:
        """``local`` (as listed or stat'ed) was found to hold the object of ``etag`` by a
        check that began at ``checked_from_ns`` (``time.time_ns()``)."""
        if (
            self._path is None
            or etag is None
            or local.ino is None
            or local.dev is None
            or local.mtime_ns is None
            or local.ctime_ns is None
            or local.refused
            or local.ctime_ns > checked_from_ns - SETTLED_NS
        ):
            return
        row = (local.dev, local.ino, etag, local.size, local.mtime_ns, local.ctime_ns, time.time())
        with self._lock:
            self._pending.append(row)
            if len(self._pending) >= FLUSH_EVERY:
                self._flush()

    def placed(self, path: str, size: int, etag: str | None) -> None:
        """A download placed a verified file at ``path``: recorded when the sync ends."""
        if self._path is not None and etag is not None:
            with self._lock:
                self._placed.append((path, size, etag))

    def _settle_placed(self) -> None:
        """Stat each placed file again, now that the sync has ended, and record those that
        are still as placed (same size) and settled."""
        placed, self._placed = self._placed, []
        now = time.time_ns()
        for path, size, etag in placed:
            try:
                info = os.lstat(path)
            except OSError:
                continue
            entry = file_entry("", info, sending=True)
            if entry.size == size:
                self.add(entry, etag, checked_from_ns=now)

    def close(self) -> None:
        self._settle_placed()
        with self._lock:
            self._flush()
            if self._connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.close()
                self._connection = None

    def _flush(self) -> None:
        rows, self._pending = self._pending, []
        connection = self._open() if rows else None
        if connection is None:
            return
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
            connection.execute(
                "DELETE FROM verified WHERE verified < ?", (time.time() - KEEP_DAYS * 86_400,)
            )
            connection.execute("COMMIT")
        except sqlite3.Error:
            # Busy (another sync writing) or unwritable: a cache, the rows are dropped.
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.close(fd)
    connection = sqlite3.connect(
        path, timeout=BUSY_MILLISECONDS / 1000, check_same_thread=False, isolation_level=None
    )
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_SCHEMA)
    except sqlite3.Error:
        connection.close()
        raise
    return connection
