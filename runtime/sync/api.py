"""``sync()``: one sync from start to end — resolve, pick a mover, run (or stage).

The one entry point the stage step, the local runner and both command lines call; it imports
no pydantic, so ``python -m runtime.sync`` starts quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias

from runtime.sync import engine
from runtime.sync.backend import S3Backend
from runtime.sync.cache import CachedStageIn
from runtime.sync.cursor import Cursor
from runtime.sync.digests import DigestRecord
from runtime.sync.digests import default_path as digests_path
from runtime.sync.download import Download
from runtime.sync.engine import EngineOptions
from runtime.sync.filters import PathFilter
from runtime.sync.localcopy import LocalCopy
from runtime.sync.locations import parse_location
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.progress import SyncProgress
from runtime.sync.settings import S3Config
from runtime.sync.sides import LocalSide, Route, S3Side, check_local_roots, resolve
from runtime.sync.transfer import Mover
from runtime.sync.upload import Upload

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    # What ``s3=`` accepts: settings for the CRT client, a boto3 client, or a ready backend.
    S3Access: TypeAlias = S3Config | S3Client | S3Backend | None

FINISHERS = 4  # threads verifying large downloads (hashing) and renaming them into place
LOCAL_COPIERS = 8
BOTO_IN_FLIGHT = 32


def sync(
    request: SyncRequest,
    *,
    deadline: float | None = None,
    cursor: str | None = None,
    progress: SyncProgress | None = None,
    s3: S3Access = None,
    dry_run: bool = False,
) -> SyncResult:
    """Make ``request.destination`` hold what ``request.source`` holds (see :class:`SyncRequest`).

    ``deadline`` is a :func:`time.monotonic` time: the sync stops starting transfers a little
    before it, cancels what is still in flight at it, and returns ``done=False`` with a
    ``cursor`` to pass to a later call, which resumes where this one stopped. ``progress``
    receives totals, bytes and outcomes as they happen. ``s3`` is an
    :class:`~runtime.sync.settings.S3Config`, a boto3 S3 client, or None for the CRT client
    configured from the standard AWS environment.

    Raises :class:`~runtime.sync.errors.SyncLocationError` for locations that cannot work, and
    :class:`~runtime.sync.errors.TransientSyncError` / :class:`~runtime.sync.errors.SyncFailed`
    when listing fails; objects that fail are counted in the result, each named in ``errors``.

    ``dry_run``: decide everything as a real run would (listings, comparisons) but copy and
    delete nothing; the result and ``progress`` count what would be copied and deleted.
    """
    job = request
    if dry_run and job.cached:
        raise ValueError("a dry run of a shared-cache stage-in is not supported")
    source = parse_location(job.source)
    destination = parse_location(job.destination)
    check_local_roots((source, destination))
    fingerprint = job.fingerprint()
    position = Cursor.decode(cursor, fingerprint) if cursor else None
    access = _Access(s3)
    digests: DigestRecord | None = None
    try:
        route = resolve(source, destination, access.backend, reuse_head=not job.cached)
        options = EngineOptions(
            filter=PathFilter(
                job.filters, single_name=route.display_name("") if route.single else ""
            ),
            size_only=job.size_only,
            force=job.force,
            delete=job.delete,
            max_in_flight=access.max_in_flight,
            dry_run=dry_run,
        )
        if (
            not job.cached
            and not dry_run
            and isinstance(route.source, S3Side) != isinstance(route.destination, S3Side)
        ):
            # S3 <-> files: remember which files were found to hold which ETag.
            options.digests = digests = DigestRecord(digests_path())
        with open_mover(route, read_only=job.cached) as mover:
            if job.cached:
                staging = CachedStageIn(route, job, mover, options, fingerprint=fingerprint)
                return staging.run(cursor=position, deadline=deadline, progress=progress)
            outcome = engine.run(
                route,
                mover,
                options,
                fingerprint=fingerprint,
                cursor=position,
                deadline=deadline,
                progress=progress,
            )
            return outcome.summary
    finally:
        if digests is not None:
            digests.close()
        access.close()


@contextmanager
def open_mover(route: Route, *, read_only: bool = False) -> Iterator[Mover]:
    """The mover for ``route``; ``read_only``: files placed are made read-only (the cache)."""
    source, destination = route.source, route.destination
    if isinstance(source, S3Side) and isinstance(destination, LocalSide):
        with ThreadPoolExecutor(FINISHERS, thread_name_prefix="sync-verify") as finisher:
            yield Download(source, destination, finisher, read_only=read_only)
    elif isinstance(source, LocalSide) and isinstance(destination, S3Side):
        yield Upload(source, destination)
    elif isinstance(source, LocalSide) and isinstance(destination, LocalSide):
        with ThreadPoolExecutor(LOCAL_COPIERS, thread_name_prefix="sync-copy") as pool:
            yield LocalCopy(source, destination, pool)
    else:  # resolve() refuses S3 → S3 before we get here
        raise AssertionError(f"no mover for {source} → {destination}")


class _Access:
    """The S3 backend, made on first use (a local → local sync never needs one)."""

    def __init__(self, s3: S3Access) -> None:
        self._given = s3
        self._backend: S3Backend | None = None
        self._close: list[object] = []
        self.max_in_flight = S3Config().max_in_flight

    def backend(self) -> S3Backend:
        if self._backend is None:
            self._backend = self._make()
        return self._backend

    def _make(self) -> S3Backend:
        given = self._given
        if given is None or isinstance(given, S3Config):
            config = given or S3Config.from_environment()
            self.max_in_flight = config.max_in_flight
            try:
                from runtime.sync.crt_client import crt_backend
            except ImportError:  # no awscrt wheel for this platform: boto3 will do
                import boto3

                return self._boto(boto3.client("s3", endpoint_url=config.endpoint_url), config)
            return crt_backend(config)
        if hasattr(given, "list_objects") and hasattr(given, "download"):
            return given  # type: ignore[return-value]
        return self._boto(given, None)  # type: ignore[arg-type]

    def _boto(self, client: S3Client, config: S3Config | None) -> S3Backend:
        from runtime.sync.boto_backend import BotoBackend

        backend = BotoBackend(client, config)
        self._close.append(backend.close)
        self.max_in_flight = BOTO_IN_FLIGHT
        return backend

    def close(self) -> None:
        for close in self._close:
            if callable(close):
                close()
