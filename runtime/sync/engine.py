"""The sync loop: walk the merged listing, decide, move, verify, account — within a deadline.

One thread walks the merged listing in order and starts transfers (at most ``max_in_flight``
at once); the transfer client's threads finish them. Every entry passes through the
:class:`~runtime.sync.ledger.Ledger`, whose watermark becomes the cursor when the deadline
stops the walk. A transfer that fails in a retryable way (throttling after the client's own
retries, a corrupted body) is tried again a few times before it counts as failed. A local
source entry that is not a regular file of the tree (a link, a device ...) counts as failed,
not retryable, and is named.

The walk runs on a thread of its own; the caller's thread only waits. So an exception raised
there at any moment — ``KeyboardInterrupt``, or what a SIGTERM handler raises — finds the
walk's bookkeeping whole: the engine stops the walk, cancels every transfer in flight (the
clients abort the multipart uploads they started) and waits until each has ended before the
exception goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from runtime.sync.backend import Cancellable
from runtime.sync.compare import Verdict, quick_verdict
from runtime.sync.cursor import Cursor
from runtime.sync.digests import DigestRecord
from runtime.sync.errors import (
    EmptySourceError,
    SyncError,
    TransferCancelledError,
    TransientSyncError,
    as_sync_error,
)
from runtime.sync.filters import PathFilter
from runtime.sync.ledger import Ledger, Slot
from runtime.sync.listing import Entry, merge
from runtime.sync.localfs import refused_message
from runtime.sync.model import MAX_ERRORS, SyncResult
from runtime.sync.progress import ProgressSubscriber, SyncProgress
from runtime.sync.sides import LocalSide, Route
from runtime.sync.transfer import Mover
from runtime.sync.window import Window

# The deadline clock; a module attribute so tests can drive deadlines deterministically.
clock: Callable[[], float] = time.monotonic

ATTEMPTS = 3  # per object, on top of the client's own per-request retries
RETRY_BACKOFF_SECONDS = 0.2
# Entries finished behind a slow one are remembered until it finishes; beyond this many the
# walk waits (memory stays bounded even behind one huge object).
MAX_BACKLOG = 100_000
WORKERS = 4  # content checks and retry back-offs
# The waiting thread wakes this often, so that a signal's handler runs promptly.
WAKE_SECONDS = 0.1


@dataclass
class EngineOptions:
    filter: PathFilter = field(default_factory=PathFilter)
    size_only: bool = False
    force: bool = False
    delete: bool = False
    max_in_flight: int = 256
    # Shared-cache staging: digests of the source entries placed, and the record's ETags.
    digest: Callable[[Entry], int] | None = None
    destination_view: Callable[[Iterator[Entry]], Iterator[Entry]] | None = None
    # The caller owns the destination and holds its lock (the shared cache): every partial
    # file there is an orphan, and with ``delete`` whatever is not selected goes too.
    own_destination: bool = False
    # Decide as usual (contents compared, nothing read that a real run would not read) but
    # move, delete and clean up nothing: what would be copied / deleted is reported as done.
    dry_run: bool = False
    # Files already verified (S3 <-> files): a file the record vouches for is not read again.
    digests: DigestRecord | None = None


@dataclass(frozen=True)
class EngineOutcome:
    summary: SyncResult
    digest: int
    count: int


def stop_time(started: float, deadline: float | None) -> float | None:
    """When to stop starting transfers: a margin before the deadline for those in flight."""
    if deadline is None:
        return None
    margin = min(5.0, max(0.05, (deadline - started) * 0.1))
    return deadline - margin


def run(
    route: Route,
    mover: Mover,
    options: EngineOptions,
    *,
    fingerprint: str,
    cursor: Cursor | None = None,
    deadline: float | None = None,
    progress: SyncProgress | None = None,
) -> EngineOutcome:
    started = time.monotonic()
    after = cursor.after if cursor else None
    ledger = (
        Ledger(after=cursor.after, digest=cursor.digest, count=cursor.count) if cursor else Ledger()
    )
    state = _Run(route, mover, options, ledger, progress or ProgressSubscriber())
    stop_at = stop_time(clock(), deadline)
    walker = _Walker(state, after, stop_at, skip=route.single and after is not None)
    try:
        stopped = walker.run()
        if not state.wait(deadline):
            state.cancel_all()
            state.wait(None)
    except BaseException:
        # A failed listing, or an interruption (Ctrl-C, SIGTERM): nothing more starts, and
        # whatever is in flight is cancelled and has ended before the exception goes on.
        state.cancel_all()
        walker.join()
        state.wait(None)
        raise
    finally:
        state.close()
        if isinstance(route.destination, LocalSide) and not options.dry_run:
            # Every transfer has ended and removed its partial file if it failed: what is
            # left there is a dead process's (or, for the cache's owner, anybody's).
            with contextlib.suppress(OSError):
                route.destination.partials().remove_orphans(all_of_them=options.own_destination)
    done = not stopped and not state.cancelled_any
    summary = SyncResult(
        transferred=state.transferred,
        skipped=state.skipped,
        failed=state.failed,
        deleted=state.deleted,
        bytes=state.bytes,
        seconds=round(time.monotonic() - started, 3),
        done=done,
        cursor=None
        if done
        else Cursor(
            fp=fingerprint, after=ledger.watermark, digest=ledger.digest, count=ledger.count
        ).encode(),
        errors=state.error_lines(),
        retryable=state.failed > 0 and state.all_retryable,
    )
    return EngineOutcome(summary=summary, digest=ledger.digest, count=ledger.count)


class _Walker:
    """The walk, on a thread of its own, waited for in slices (see the module's docstring)."""

    def __init__(self, state: _Run, after: str | None, stop_at: float | None, *, skip: bool):
        self._state = state
        self._after = after
        self._stop_at = stop_at
        self._skip = skip
        self._stopped = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._walk, name="sync-walk", daemon=True)

    def _walk(self) -> None:
        try:
            if not self._skip:
                self._stopped = self._state.walk(self._after, self._stop_at)
        except BaseException as exc:
            self._error = exc

    def run(self) -> bool:
        """Walk to the end; True when the deadline stopped the walk. Raises what it raised."""
        self._thread.start()
        self.join()
        if self._error is not None:
            raise self._error
        return self._stopped

    def join(self) -> None:
        while self._thread.is_alive():
            self._thread.join(WAKE_SECONDS)


class _Run:
    """The mutable state of one engine run, shared by the walking thread and the callbacks."""

    def __init__(
        self,
        route: Route,
        mover: Mover,
        options: EngineOptions,
        ledger: Ledger,
        progress: SyncProgress,
    ) -> None:
        self.route = route
        self.mover = mover
        self.options = options
        self.ledger = ledger
        self.progress = progress
        self._lock = threading.Lock()
        # A late lookup of the module's clock, which tests replace.
        self._window = Window(
            options.max_in_flight,
            clock=lambda: clock(),  # noqa: PLW0108
            wake=WAKE_SECONDS,
        )
        self._in_flight: dict[int, Cancellable | None] = {}
        self._tokens = itertools.count()
        self._workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="sync-work")
        self._cancelled = False
        self.cancelled_any = False
        self.transferred = self.skipped = self.failed = self.deleted = self.bytes = 0
        self.all_retryable = True
        self._errors: list[str] = []

    # -- the walk -----------------------------------------------------------------------------

    def walk(self, after: str | None, stop_at: float | None) -> bool:
        """Go through the merged listing; True when stopped by the deadline."""
        source = self.route.source.entries(after)
        first = next(source, None)
        if first is None and after is None and self._source_must_exist():
            raise EmptySourceError(f"no object or file at {self.route.source}")
        if first is not None:
            source = itertools.chain((first,), source)
        destination = self.route.destination.entries(after)
        if self.options.destination_view is not None:
            destination = self.options.destination_view(destination)
        deletes: list[tuple[str, Slot]] = []
        select = self.options.filter
        for relpath, src, dst in merge(source, destination):
            if self._cancelled:
                self._drop(deletes)
                return True
            if stop_at is not None and clock() >= stop_at:
                self._delete(deletes)
                return True
            if not select(relpath):
                # A destination the caller owns (the shared cache) holds the selection only.
                if dst is not None and self.options.delete and self.options.own_destination:
                    self._queue_delete(deletes, relpath)
                continue
            if src is None:
                if self.options.delete:
                    self._queue_delete(deletes, relpath)
                continue
            if src.refused is not None:
                self._refuse(src)
                continue
            contribution = self.options.digest(src) if self.options.digest else None
            verdict = quick_verdict(
                src, dst, size_only=self.options.size_only, force=self.options.force
            )
            if verdict is Verdict.CHECK_CONTENT and self._vouched(src, dst):
                verdict = Verdict.CURRENT
            if verdict is Verdict.CURRENT:
                self.ledger.record(relpath, contribution)
                self._count_skip(relpath)
                continue
            while self.ledger.backlog > MAX_BACKLOG and not self._cancelled:
                time.sleep(0.01)
            if not self._window.acquire(stop_at):
                if self._cancelled:
                    self._drop(deletes)
                else:
                    self._delete(deletes)
                return True
            slot = self.ledger.open(relpath, contribution)
            if verdict is Verdict.CHECK_CONTENT and dst is not None:
                self._workers.submit(self._check_then_start, src, dst, slot)
            else:
                self._start(src, slot, attempt=1)
        self._delete(deletes)
        return False

    def _vouched(self, src: Entry, dst: Entry | None) -> bool:
        digests = self.options.digests
        return digests is not None and dst is not None and digests.vouches(src, dst)

    def _refuse(self, src: Entry) -> None:
        """A source entry that is not a regular file of its tree: failed, named, not retried."""
        where = (
            self.route.source.path(src.relpath)
            if isinstance(self.route.source, LocalSide)
            else src.relpath
        )
        with self._lock:
            self.failed += 1
            self.all_retryable = False
            self._errors.append(refused_message(where, src.refused or "not a regular file"))
        self.ledger.close(self.ledger.open(src.relpath), ok=False)
        self.progress.on_done(self.route.display_name(src.relpath), "failed")

    def _source_must_exist(self) -> bool:
        # An empty directory is a fine thing to upload; an S3 location with nothing in it is
        # a typo far more often than an intent, and with --delete it would empty the target.
        return not isinstance(self.route.source, LocalSide)

    # -- transfers ----------------------------------------------------------------------------

    def _start(self, src: Entry, slot: Slot, attempt: int) -> None:
        if attempt == 1:
            self.progress.on_total(1, src.size)
        if self.options.dry_run:
            self._settle(None, -1, src, slot, attempt, 0)
            return
        token = next(self._tokens)
        with self._lock:
            self._in_flight[token] = None  # the move may end before start() returns
        moved = [0]  # this attempt's bytes: a retry moves them again

        def on_bytes(count: int) -> None:
            moved[0] += count
            self.progress.on_progress(count)

        def done(error: BaseException | None) -> None:
            self._settle(error, token, src, slot, attempt, moved[0])

        try:
            handle = self.mover.start(src, on_bytes, done)
        except Exception as exc:  # movers report through ``done``; this is a safety net
            done(exc)
            return
        with self._lock:
            if token in self._in_flight:
                self._in_flight[token] = handle
            cancel_now = self._cancelled
        if cancel_now:
            handle.cancel()

    def _check_then_start(self, src: Entry, dst: Entry, slot: Slot) -> None:
        checked_from = time.time_ns()
        try:
            current = self.mover.content_matches(src, dst)
        except Exception:
            current = False
        if current and self.options.digests is not None:
            local, remote = (src, dst) if src.ino is not None else (dst, src)
            self.options.digests.add(local, remote.etag, checked_from_ns=checked_from)
        if current:
            self.ledger.close(slot, ok=True)
            self._count_skip(src.relpath)
            self._window.release()
        elif self._cancelled:
            self._finish_cancelled(slot)
        else:
            self._start(src, slot, attempt=1)

    def _settle(
        self,
        error: BaseException | None,
        token: int,
        src: Entry,
        slot: Slot,
        attempt: int,
        moved: int,
    ) -> None:
        with self._lock:
            self._in_flight.pop(token, None)
            if error is None:
                self.transferred += 1
                self.bytes += src.size
        name = self.route.display_name(src.relpath)
        if error is None:
            destination = self.route.destination
            if self.options.digests is not None and isinstance(destination, LocalSide):
                self.options.digests.placed(str(destination.path(src.relpath)), src.size, src.etag)
            try:
                self.ledger.close(slot, ok=True)
                self.progress.on_done(name, "transferred")
            finally:
                self._window.release()
            return
        if isinstance(error, TransferCancelledError) or self._cancelled:
            # Stopped on purpose (the deadline): not a failure, the next call redoes it.
            self._finish_cancelled(slot)
            return
        problem = as_sync_error(error, name)
        if isinstance(problem, TransientSyncError) and attempt < ATTEMPTS:
            # The bytes this attempt moved are moved again: more work, so the bar stays true.
            self.progress.on_total(0, moved)
            self._workers.submit(self._retry, src, slot, attempt + 1)
            return
        with self._lock:
            self.failed += 1
            self.all_retryable = self.all_retryable and isinstance(problem, TransientSyncError)
            self._errors.append(str(problem))
        try:
            self.ledger.close(slot, ok=False)
            self.progress.on_done(name, "failed")
        finally:
            self._window.release()

    def _retry(self, src: Entry, slot: Slot, attempt: int) -> None:
        time.sleep(RETRY_BACKOFF_SECONDS * 2 ** (attempt - 2))
        if self._cancelled:
            self._finish_cancelled(slot)
        else:
            self._start(src, slot, attempt)

    def _finish_cancelled(self, slot: Slot) -> None:
        with self._lock:
            self.cancelled_any = True
        try:
            self.ledger.close(slot, ok=False)
        finally:
            self._window.release()

    # -- deletes and counts -------------------------------------------------------------------

    def _queue_delete(self, batch: list[tuple[str, Slot]], relpath: str) -> None:
        batch.append((relpath, self.ledger.open(relpath)))
        if len(batch) >= self.mover.delete_batch:
            self._delete(batch)

    def _delete(self, batch: list[tuple[str, Slot]]) -> None:
        if not batch:
            return
        relpaths = [relpath for relpath, _ in batch]
        try:
            failures = [] if self.options.dry_run else self.mover.delete(relpaths)
            failed = len(failures)
        except SyncError as exc:
            # The whole request failed: none of the batch is known to be gone.
            failures = [str(exc)]
            failed = len(batch)
        ok = not failures
        for relpath, slot in batch:
            self.ledger.close(slot, ok=ok)
            if ok:
                self.progress.on_done(self.route.display_name(relpath), "deleted")
        with self._lock:
            self.deleted += len(batch) - failed
            self.failed += failed
            self.all_retryable = self.all_retryable and not failures
            self._errors.extend(failures)
        batch.clear()

    def _drop(self, batch: list[tuple[str, Slot]]) -> None:
        """Deletes queued when the sync was cancelled: not done (the cursor stays before)."""
        for _, slot in batch:
            self.ledger.close(slot, ok=False)
        batch.clear()

    def _count_skip(self, relpath: str) -> None:
        with self._lock:
            self.skipped += 1
        self.progress.on_done(self.route.display_name(relpath), "skipped")

    def error_lines(self) -> list[str]:
        if len(self._errors) <= MAX_ERRORS:
            return list(self._errors)
        return [*self._errors[:MAX_ERRORS], f"... and {len(self._errors) - MAX_ERRORS} more"]

    # -- the end ------------------------------------------------------------------------------

    def wait(self, until: float | None) -> bool:
        """Wait for every started item to settle; False if ``until`` (a clock time) came first."""
        return self._window.wait_empty(until)

    def cancel_all(self) -> None:
        """Start nothing more (the walk stops at its next step) and cancel what is in flight."""
        with self._lock:
            self._cancelled = True
            handles = [handle for handle in self._in_flight.values() if handle is not None]
        self._window.close()
        for handle in handles:
            handle.cancel()

    def close(self) -> None:
        self._workers.shutdown(wait=True)
