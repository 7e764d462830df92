"""Keeping the shared input cache within bounds: list its entries, remove the unused ones.

An entry is a directory ``<shared>/<key>`` (``key``: the hash of the input's source and
filters, ``runtime.plan.builder.shared_cache_key``) holding the staged input ``<name>``, its
completion record ``.<name>.sync-record`` and its stager lock ``.<name>.sync-lock``
(``runtime.sync.cache``). Each stage-in that uses an entry — a hit or a fresh staging — touches
its last-used stamp ``.last-used`` (:func:`touch_last_used`, called by ``runtime.steps.stage``).

Pruning removes an entry unused for longer than ``max_unused`` and, with a ``size_budget``, the
least recently used beyond it; never one that

- a stager holds (its lock is taken, without waiting, and held while the entry is removed),
- a live execution's stored plan names (every ``/control/<id>/plan.json``: an execution keeps
  its control dir until its cleanup, so this covers a job running for longer than
  ``max_unused``), or
- was used since it was chosen (its stamp is read again once it can no longer be hit).

Entries are chosen by their last use: the stamp's time, else the completion record's, else
the directory's own (a staging that never completed).

The order closes the window between a stage-in's cache hit (which takes no lock) and its
stamp: each chosen entry's record is first set aside, so that no stage-in can hit it any more;
only then are the live plans read, and an entry one names gets its record back. A stage-in
that hit before the record was set aside belongs to an execution whose plan was stored before
its stage-in began, so the plans read afterwards name it. The lock file stays (the lock
protocol never deletes one: a waiter on the old file and a newcomer on a new one would both
own the entry); the rest of the entry goes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.errors import DemandError
from runtime.plan.models import ExecutionPlan
from runtime.steps.roots import PLAN_FILE
from runtime.sync.cache import read_header, unseal
from runtime.sync.lock import StagerLock
from runtime.volumes import EfsMount, EfsUri, VolumeConfiguration, VolumeError, efs_to_local

LAST_USED = ".last-used"
RECORD_SUFFIX = ".sync-record"
LOCK_SUFFIX = ".sync-lock"
SET_ASIDE_SUFFIX = ".pruning"
# An entry's directory name: a sha256 in hex. Anything else under the cache root is not ours.
KEY_LENGTH = 64
# The most entries one answer lists (a Lambda's response is at most 6 MB).
MAX_LISTED = 5000


class CachePruneRefusedError(DemandError):
    """Nothing was removed: what decides which entries are in use could not be read."""


def touch_last_used(entry: Path) -> None:
    """Mark ``entry`` (``<shared>/<key>``) used now. Best effort: a stamp that cannot be written
    leaves the record's time as the last use, which only makes the entry look older."""
    with contextlib.suppress(OSError):
        stamp = entry / LAST_USED
        stamp.touch(mode=0o644)
        os.utime(stamp)


def is_key(name: str) -> bool:
    return len(name) == KEY_LENGTH and all(c in "0123456789abcdef" for c in name)


@dataclass(frozen=True)
class CacheEntry:
    key: str
    source: str | None  # from the completion record; None: never completed (a partial staging)
    size: int  # bytes
    last_used: datetime
    complete: bool
    in_use: bool = False  # named by a live execution's plan
    locked: bool = False  # a stager holds it now

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {"last_used": self.last_used.isoformat(timespec="seconds")}


@dataclass(frozen=True)
class CacheLayout:
    """Where this process sees the cache and the executions' control dirs."""

    shared: Path
    control: Path
    shared_efs: EfsUri

    @classmethod
    def of(cls, volumes: VolumeConfiguration, mounts: Sequence[EfsMount]) -> CacheLayout:
        shared = volumes.shared.efs_uri()
        control = EfsUri(file_system_id=volumes.file_system_id, path=volumes.control_efs_path)
        return cls(efs_to_local(shared, mounts), efs_to_local(control, mounts), shared)

    def entries(self) -> Iterator[Path]:
        try:
            children = sorted(os.scandir(self.shared), key=lambda e: e.name)
        except FileNotFoundError:
            return
        for child in children:
            if is_key(child.name) and child.is_dir(follow_symlinks=False):
                entry = Path(child.path)
                if not _only_locks(entry):
                    yield entry

    def keys_in_use(self) -> set[str]:
        """The cache keys every live execution's stored plan names; refuses when a plan exists
        but cannot be read (its execution might use any entry)."""
        keys: set[str] = set()
        problems: list[str] = []
        try:
            executions = sorted(os.scandir(self.control), key=lambda e: e.name)
        except FileNotFoundError:
            return keys
        for execution in executions:
            plan_file = Path(execution.path, PLAN_FILE)
            if not execution.is_dir(follow_symlinks=False) or not plan_file.exists():
                continue  # not yet planned: its stage-in cannot have hit an entry set aside
            try:
                plan = ExecutionPlan.model_validate_json(plan_file.read_bytes())
            except (OSError, ValueError) as exc:
                problems.append(f"{plan_file}: unreadable ({type(exc).__name__})")
                continue
            keys |= plan_keys(plan, self.shared_efs)
        if problems:
            raise CachePruneRefusedError("nothing pruned: " + "; ".join(problems))
        return keys


def plan_keys(plan: ExecutionPlan, shared_efs: EfsUri) -> set[str]:
    """The cache entries a plan's shared inputs live in."""
    keys = set()
    for planned in plan.inputs:
        if not planned.shared:
            continue
        try:
            uri = EfsUri.parse(planned.efs_uri)
        except VolumeError:
            continue
        if uri.file_system_id != shared_efs.file_system_id:
            continue
        parts = Path(uri.path).relative_to(shared_efs.path).parts if _under(uri, shared_efs) else ()
        if parts:
            keys.add(parts[0])
    return keys


def _under(uri: EfsUri, root: EfsUri) -> bool:
    return Path(uri.path).is_relative_to(root.path)


def _only_locks(entry: Path) -> bool:
    """What a pruned entry leaves: its lock files alone, nothing to list or reclaim."""
    return all(child.name.endswith(LOCK_SUFFIX) for child in entry.iterdir())


def _records(entry: Path) -> list[Path]:
    return sorted(p for p in entry.glob(f".*{RECORD_SUFFIX}") if p.is_file())


def _locks(entry: Path) -> list[Path]:
    return sorted(p for p in entry.glob(f".*{LOCK_SUFFIX}") if p.is_file())


def _mtime(path: Path) -> float | None:
    try:
        return path.lstat().st_mtime
    except OSError:
        return None


def last_used(entry: Path) -> float:
    """The stamp's time; else the newest record's; else the directory's own (its creation, or
    the last file added to it)."""
    for candidate in (entry / LAST_USED, *_records(entry)):
        found = _mtime(candidate)
        if found is not None:
            return found
    return _mtime(entry) or 0.0


def _walk_size(root: Path) -> int:
    """Bytes of the entry's files, but for its lock files (which stay) and its stamp."""
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            if directory == str(root) and (name == LAST_USED or name.endswith(LOCK_SUFFIX)):
                continue
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def describe_entry(entry: Path) -> CacheEntry:
    headers = [h for h in (read_header(r) for r in _records(entry)) if h is not None]
    size = sum(h.size for h in headers) if headers else _walk_size(entry)
    return CacheEntry(
        key=entry.name,
        source=headers[0].source if headers else None,
        size=size,
        last_used=datetime.fromtimestamp(last_used(entry), UTC),
        complete=bool(headers),
    )


def _held_by_a_stager(entry: Path) -> bool:
    locks = _take_locks(entry)
    if locks is None:
        return True
    for lock in locks:
        lock.release()
    return False


def _take_locks(entry: Path) -> list[StagerLock] | None:
    """Every stager lock of the entry, taken without waiting; None (and none kept) if one is
    held. Only existing lock files are opened: an entry is never given a lock file here."""
    taken: list[StagerLock] = []
    for path in _locks(entry):
        lock = StagerLock(path)
        if not lock.try_acquire():
            for held in taken:
                held.release()
            return None
        taken.append(lock)
    return taken


def list_cache(layout: CacheLayout) -> list[CacheEntry]:
    """Every entry, least recently used first, with whether it is in use or locked now."""
    in_use = layout.keys_in_use()
    entries = [
        _with(describe_entry(entry), in_use=entry.name in in_use, locked=_held_by_a_stager(entry))
        for entry in layout.entries()
    ]
    return sorted(entries, key=lambda e: (e.last_used, e.key))


def _with(entry: CacheEntry, **changes: bool) -> CacheEntry:
    return CacheEntry(**(asdict(entry) | changes))


@dataclass(frozen=True)
class PruneSettings:
    max_unused: timedelta | None
    size_budget: int | None = None  # bytes

    @classmethod
    def of(cls, max_unused_days: int | None, size_budget_gib: float | None) -> PruneSettings:
        return cls(
            max_unused=None if max_unused_days is None else timedelta(days=max_unused_days),
            size_budget=None if size_budget_gib is None else int(size_budget_gib * 2**30),
        )


@dataclass
class PruneReport:
    removed: list[CacheEntry] = field(default_factory=list)
    kept_in_use: list[str] = field(default_factory=list)
    kept_locked: list[str] = field(default_factory=list)
    kept_used_since: list[str] = field(default_factory=list)
    entries_before: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    dry_run: bool = False
    stopped_early: bool = False

    @property
    def freed(self) -> int:
        return sum(entry.size for entry in self.removed)

    def to_json(self) -> dict[str, object]:
        return {
            "removed": [entry.to_json() for entry in self.removed[:MAX_LISTED]],
            "removed_count": len(self.removed),
            "freed_bytes": self.freed,
            "kept_in_use": self.kept_in_use,
            "kept_locked": self.kept_locked,
            "kept_used_since": self.kept_used_since,
            "entries_before": self.entries_before,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "dry_run": self.dry_run,
            "stopped_early": self.stopped_early,
        }


def choose(entries: list[CacheEntry], settings: PruneSettings, now: datetime) -> list[CacheEntry]:
    """The entries to remove, least recently used first: those unused for longer than
    ``max_unused``, then more of the least recently used until the rest fit the budget."""
    ordered = sorted(entries, key=lambda e: (e.last_used, e.key))
    chosen = []
    total = sum(e.size for e in ordered)
    for entry in ordered:
        too_old = settings.max_unused is not None and now - entry.last_used > settings.max_unused
        over_budget = settings.size_budget is not None and total > settings.size_budget
        if too_old or over_budget:
            chosen.append(entry)
            total -= entry.size
    return chosen


def prune_cache(
    layout: CacheLayout,
    settings: PruneSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PruneReport:
    """Remove what :func:`choose` picks, except what is held, in use or used since (module
    docstring). ``dry_run``: report what would go, change nothing."""
    now = now or datetime.now(UTC)
    described = [describe_entry(entry) for entry in layout.entries()]
    report = PruneReport(
        entries_before=len(described),
        bytes_before=sum(e.size for e in described),
        dry_run=dry_run,
    )
    chosen = choose(described, settings, now)
    if dry_run:
        in_use = layout.keys_in_use()
        report.removed = [e for e in chosen if e.key not in in_use]
        report.kept_in_use = [e.key for e in chosen if e.key in in_use]
        report.bytes_after = report.bytes_before - report.freed
        return report

    held: list[_Held] = []
    try:
        for entry in chosen:
            if deadline is not None and clock() >= deadline:
                report.stopped_early = True
                break
            path = layout.shared / entry.key
            stamp = _mtime(path / LAST_USED)
            locks = _take_locks(path)
            if locks is None:
                report.kept_locked.append(entry.key)
                continue
            held.append(_Held(entry, path, stamp, locks, _set_records_aside(path)))
        try:
            in_use = layout.keys_in_use()
        except CachePruneRefusedError:
            for one in held:
                _restore(one.aside)
            raise
        for one in held:
            key = one.entry.key
            if key in in_use:
                _restore(one.aside)
                report.kept_in_use.append(key)
            elif _mtime(one.path / LAST_USED) != one.stamp:
                _restore(one.aside)  # a stage-in hit it between the choice and the set-aside
                report.kept_used_since.append(key)
            elif deadline is not None and clock() >= deadline:
                _restore(one.aside)
                report.stopped_early = True
            else:
                _remove_entry(one.path)
                report.removed.append(one.entry)
    finally:
        for one in held:
            for lock in one.locks:
                lock.release()
    report.bytes_after = report.bytes_before - report.freed
    return report


@dataclass(frozen=True)
class _Held:
    """A chosen entry while it is being pruned: its stamp's time then, its locks, its records
    set aside."""

    entry: CacheEntry
    path: Path
    stamp: float | None
    locks: list[StagerLock]
    aside: list[Path]


def _set_records_aside(entry: Path) -> list[Path]:
    """Rename each completion record, so that no stage-in can hit the entry any more."""
    aside = []
    for record in _records(entry):
        target = record.with_name(record.name + SET_ASIDE_SUFFIX)
        os.replace(record, target)
        aside.append(target)
    return aside


def _restore(aside: list[Path]) -> None:
    for path in aside:
        os.replace(path, path.with_name(path.name.removesuffix(SET_ASIDE_SUFFIX)))


def _remove_entry(entry: Path) -> None:
    """Everything of the entry but its lock files (and so the directory that holds them)."""
    keep = {path.name for path in _locks(entry)}
    for child in sorted(entry.iterdir()):
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            unseal(child)
            shutil.rmtree(child)
        else:
            child.unlink(missing_ok=True)
    if not keep:
        with contextlib.suppress(OSError):
            entry.rmdir()
