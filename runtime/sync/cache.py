"""The shared input cache: completion records, reuse, refresh, and one downloader at a time.

A cached stage-in (S3 → a shared directory) ends by writing a *completion record* next to its
destination (``.<name>.sync-record``): a header line with the source, the selection (filters)
and a digest of the source listing, then one line per object — relpath, size, ETag and the
local file's mtime, inode and ctime. The next stage-in lists the source, and when the digest
matches and every local file still is the file recorded, as recorded (a stat walk: same size,
mtime, inode and ctime) it is a cache hit: no bodies read, no lock taken. A file deleted,
rewritten or added locally makes it a refresh, which transfers what differs; a ``force``
stage-in is never answered from the record. A job that rewrites a cached file and puts its
mtime back (``touch -r``) cannot put back its ctime, and one that replaces it cannot keep its
inode: either way it is re-staged, never served. Any change in the source (an object added,
removed or rewritten) changes the digest, so a stale cache is never served; the refresh
transfers only the objects whose ETag differs from what the record vouches for.

Staged files are read-only (0o444) and so are the cache's directories (0o555); a refresh
makes the directories writable again before it changes anything, and read-only once done.

Concurrent stagers of one input serialise on a :class:`~runtime.sync.lock.StagerLock`; while
one downloads, the others poll the record and return a cache hit once it appears.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from runtime.sync import engine
from runtime.sync.cursor import Cursor
from runtime.sync.engine import EngineOptions
from runtime.sync.errors import SyncLocationError, TransientSyncError
from runtime.sync.filters import PathFilter
from runtime.sync.ledger import DIGEST_MODULUS
from runtime.sync.listing import Entry, local_entry, merge, walk_local
from runtime.sync.localfs import CACHED_FILE_MODE
from runtime.sync.lock import StagerLock
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.progress import SyncProgress
from runtime.sync.sides import LocalSide, Route
from runtime.sync.transfer import Mover

RECORD_VERSION = 2
# The header is a fixed-width first line, rewritten in place once the lines below are known.
HEADER_WIDTH = 4096
# A source that changes during every attempt is reported rather than chased for ever.
ROUNDS = 3
FILE_MODE = CACHED_FILE_MODE
DIRECTORY_MODE = 0o555
WRITABLE_DIRECTORY_MODE = 0o755


@dataclass(frozen=True)
class RecordHeader:
    source: str
    selection: str
    digest: str
    count: int
    size: int  # bytes in all
    completed_at: str
    version: int = RECORD_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()


def entry_digest(entry: Entry) -> int:
    """A source entry's share of the listing digest (the digest is their sum, so order-free)."""
    text = f"{entry.relpath}\0{entry.size}\0{entry.etag or ''}".encode()
    return int.from_bytes(hashlib.sha256(text).digest(), "big")


def listing_digest(entries: Iterable[Entry]) -> tuple[int, int, int]:
    """Digest, count and total size of a listing."""
    digest = count = size = 0
    for entry in entries:
        digest = (digest + entry_digest(entry)) % DIGEST_MODULUS
        count += 1
        size += entry.size
    return digest, count, size


def record_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.sync-record")


def lock_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.sync-lock")


def read_header(record: Path) -> RecordHeader | None:
    try:
        with record.open("rb") as handle:
            fields = json.loads(handle.readline(HEADER_WIDTH + 1))
        header = RecordHeader(**fields)
    except (OSError, ValueError, TypeError):
        return None
    return header if header.version == RECORD_VERSION else None


class RecordLine(NamedTuple):
    """One placed file as the record vouches for it."""

    relpath: str
    size: int
    etag: str | None
    mtime_ns: int
    ino: int
    ctime_ns: int

    def matches(self, entry: Entry) -> bool:
        """Whether the local ``entry`` is still this very file, unchanged."""
        return (
            entry.refused is None
            and entry.size == self.size
            and entry.mtime_ns == self.mtime_ns
            and entry.ino == self.ino
            and entry.ctime_ns == self.ctime_ns
        )


def read_lines(record: Path) -> Iterator[RecordLine]:
    try:
        with record.open("rb") as handle:
            handle.readline(HEADER_WIDTH + 1)
            for line in handle:
                yield RecordLine(*json.loads(line))
    except (OSError, ValueError, TypeError):
        return  # unreadable, or of another version: vouches for nothing more


def with_recorded_etags(entries: Iterator[Entry], lines: Iterator[RecordLine]) -> Iterator[Entry]:
    """Destination entries, each with the ETag the record vouches for when the file is as it
    was recorded — so unchanged files are skipped without hashing."""
    line = next(lines, None)
    for entry in entries:
        while line is not None and line.relpath < entry.relpath:
            line = next(lines, None)
        if line is not None and line.relpath == entry.relpath and line.etag and line.matches(entry):
            yield replace(entry, etag=line.etag)
        else:
            yield entry


def files_as_recorded(entries: Iterator[Entry], lines: Iterator[RecordLine]) -> bool:
    """Whether the local files are exactly those recorded, each still the file recorded with
    its size, mtime and ctime: a file deleted, rewritten (whatever its mtime says), replaced
    or added since the record was written is not (a stat walk; no file is read)."""
    for entry in entries:  # both in listing order: they must pair one to one
        line = next(lines, None)
        if line is None or line.relpath != entry.relpath or not line.matches(entry):
            return False
    return next(lines, None) is None


def seal(root: Path) -> None:
    """Make a staged cache read-only: files 0o444, directories 0o555 (deepest first)."""
    if root.is_symlink() or not root.exists():
        return
    if not root.is_dir():
        _chmod(root, FILE_MODE)
        return
    directories = []
    for directory, _, files in os.walk(root):  # os.walk follows no links to directories
        directories.append(directory)
        for name in files:
            _chmod(Path(directory, name), FILE_MODE)
    for directory in reversed(directories):
        _chmod(Path(directory), DIRECTORY_MODE)


def unseal(root: Path) -> None:
    """Make a sealed cache's directories writable again, so that a refresh can replace,
    add and delete files (files stay read-only: they are replaced by renaming)."""
    if root.is_symlink() or not root.is_dir():
        return
    for directory, _, _ in os.walk(root):  # top down: each is made writable before its children
        _chmod(Path(directory), WRITABLE_DIRECTORY_MODE)


def _chmod(path: Path, mode: int) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) == mode:
        return  # a link is never followed; a file already so is left alone (its ctime too)
    if stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
        os.chmod(path, mode)


class CachedStageIn:
    """One cached stage-in of ``route`` (an S3 source into a local destination)."""

    def __init__(
        self,
        route: Route,
        job: SyncRequest,
        mover: Mover,
        options: EngineOptions,
        *,
        fingerprint: str,
    ) -> None:
        if not isinstance(route.destination, LocalSide) or isinstance(route.source, LocalSide):
            raise SyncLocationError("a cached sync copies from S3 into a file system")
        self.route = route
        self.destination: LocalSide = route.destination
        self.job = job
        self.mover = mover
        self.fingerprint = fingerprint
        self.select: PathFilter = options.filter
        # The cache mirrors its source: objects gone from the source leave the cache too.
        self.options = replace(options, delete=True, digest=entry_digest, own_destination=True)
        self.record = record_path(self.destination.root)
        self.selection = job.selection()
        self._digest: tuple[int, int, int] | None = None

    def run(
        self,
        *,
        cursor: Cursor | None,
        deadline: float | None,
        progress: SyncProgress | None,
    ) -> SyncResult:
        started = time.monotonic()
        if self._hit():
            return self._hit_result(started)
        lock = StagerLock(lock_path(self.destination.root))
        until = engine.stop_time(engine.clock(), deadline)
        if not lock.acquire(until=until, clock=engine.clock, while_waiting=self._hit):
            if self._hit():
                return self._hit_result(started)
            # Out of time while another stager works: come back later, from where we were.
            pending = cursor or Cursor(fp=self.fingerprint)
            return SyncResult(done=False, cursor=pending.encode(), seconds=_since(started))
        try:
            if self._hit():
                return self._hit_result(started)
            return self._stage(cursor, deadline, progress, started)
        finally:
            lock.release()

    def _stage(
        self,
        cursor: Cursor | None,
        deadline: float | None,
        progress: SyncProgress | None,
        started: float,
    ) -> SyncResult:
        totals = SyncResult()
        for _ in range(ROUNDS):
            previous = self._set_record_aside()
            unseal(self.destination.root)
            options = self.options
            if previous is not None:
                options = replace(options, destination_view=_recorded_view(previous))
            outcome = engine.run(
                self.route,
                self.mover,
                options,
                fingerprint=self.fingerprint,
                cursor=cursor,
                deadline=deadline,
                progress=progress,
            )
            totals = totals.add(outcome.summary)
            totals.seconds = _since(started)
            if not totals.done or outcome.summary.failed:
                return totals
            seal(self.destination.root)  # before the record: it records the files' ctimes
            if self._commit(outcome.digest, outcome.count):
                if previous is not None:
                    previous.unlink(missing_ok=True)
                return totals
            cursor = None  # the source changed while we copied it: go round again
        raise TransientSyncError(f"{self.job.source}: kept changing while it was staged")

    # -- the record ---------------------------------------------------------------------------

    def _listing(self) -> tuple[int, int, int]:
        if self._digest is None:
            self._digest = listing_digest(
                entry for entry in self.route.source.entries(None) if self.select(entry.relpath)
            )
        return self._digest

    def _hit(self) -> bool:
        """Whether the record matches the source's listing and the files are as recorded."""
        if self.options.force:
            return False
        header = read_header(self.record)
        if header is None or header.selection != self.selection:
            return False
        if not self.destination.root.exists():
            return False
        digest, count, _ = self._listing()
        if header.digest != f"{digest:x}" or header.count != count:
            return False
        return files_as_recorded(self._local_entries(), read_lines(self.record))

    def _local_entries(self) -> Iterator[Entry]:
        # Not ``self.destination.entries``: that collects partial files for the engine.
        if self.destination.single:
            found = local_entry(self.destination.root)
            return iter(() if found is None else (found,))
        return walk_local(self.destination.root)

    def _hit_result(self, started: float) -> SyncResult:
        _, count, _ = self._listing()
        return SyncResult(skipped=count, cache_hit=True, seconds=_since(started))

    def _set_record_aside(self) -> Path | None:
        """Invalidate the record before touching the files it describes; keep it aside so
        the refresh can trust its ETags for files that have not changed since."""
        previous = self.record.with_name(self.record.name + ".previous")
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.record, previous)
        return previous if previous.exists() else None

    def _commit(self, digest: int, count: int) -> bool:
        """Write the record from a fresh listing, if it shows exactly what was placed."""
        partial = self.record.with_name(f"{self.record.name}.{os.getpid()}.partial")
        fresh = (e for e in self.route.source.entries(None) if self.select(e.relpath))
        local = self.destination.entries(None)  # unselected files are extras here too
        listed = listed_count = total = 0
        matches = True
        with partial.open("wb") as out:
            out.write(b" " * (HEADER_WIDTH - 1) + b"\n")
            for relpath, src, dst in merge(fresh, local):
                if src is None or dst is None or dst.refused or dst.size != src.size:
                    matches = False
                    break
                listed = (listed + entry_digest(src)) % DIGEST_MODULUS
                listed_count += 1
                total += src.size
                line = json.dumps(
                    [relpath, src.size, src.etag, dst.mtime_ns, dst.ino, dst.ctime_ns]
                )
                out.write(line.encode() + b"\n")
            matches = matches and listed == digest and listed_count == count
            if matches:
                header = RecordHeader(
                    source=self.job.source,
                    selection=self.selection,
                    digest=f"{digest:x}",
                    count=count,
                    size=total,
                    completed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                ).to_json()
                out.seek(0)
                out.write(header.ljust(HEADER_WIDTH - 1))
                out.flush()
                os.fsync(out.fileno())
        if not matches:
            partial.unlink(missing_ok=True)
            return False
        os.replace(partial, self.record)
        self._digest = (digest, count, total)
        return True


def _recorded_view(record: Path) -> Callable[[Iterator[Entry]], Iterator[Entry]]:
    def view(entries: Iterator[Entry]) -> Iterator[Entry]:
        return with_recorded_etags(entries, read_lines(record))

    return view


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
