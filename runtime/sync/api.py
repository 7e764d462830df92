"""``sync()``: the one entry point the stage steps, the local runner and the CLI call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from runtime.sync import runner
from runtime.sync.job import SyncJob
from runtime.sync.progress import SyncProgress
from runtime.sync.request import SyncRequest
from runtime.sync.result import SyncResult

if TYPE_CHECKING:
    from runtime.sync.runner import S3Access
    from runtime.volumes import EfsMount


def sync(
    request: SyncRequest,
    *,
    mounts: Sequence[EfsMount] = (),
    deadline: float | None = None,
    cursor: str | None = None,
    progress: SyncProgress | None = None,
    s3: S3Access = None,
) -> SyncResult:
    """Make ``request.destination`` hold what ``request.source`` holds (see :class:`SyncRequest`).

    ``mounts`` resolve ``efs://`` locations to local paths. ``deadline`` is a
    :func:`time.monotonic` time: the sync stops starting transfers a little before it, cancels
    what is still in flight at it, and returns ``done=False`` with a ``cursor`` to pass to a
    later call, which resumes where this one stopped. ``progress`` receives totals, bytes and
    outcomes as they happen. ``s3`` is an :class:`~runtime.sync.settings.S3Config`, a boto3 S3
    client, or None for the CRT client configured from the standard AWS environment.

    Raises :class:`~runtime.sync.errors.SyncLocationError` for locations that cannot work, and
    :class:`~runtime.sync.errors.TransientSyncError` / :class:`~runtime.sync.errors.SyncFailed`
    when listing fails; objects that fail are counted in the result, each named in ``errors``.
    """
    summary = runner.run(
        SyncJob.of(request),
        mounts=mounts,
        deadline=deadline,
        cursor=cursor,
        progress=progress,
        s3=s3,
    )
    return SyncResult.of(summary)
