"""The S3 ⇄ file-system transfer engine: fast, verified, atomic, cache-safe and resumable.

``sync(request, ...)`` copies an object or a prefix / directory between ``s3://``, ``file://``
or plain paths and ``efs://`` locations; see :mod:`runtime.sync.api`.
"""

from runtime.sync.api import sync
from runtime.sync.errors import (
    SyncError,
    SyncFailed,
    SyncLocationError,
    TransientSyncError,
)
from runtime.sync.progress import ProgressSubscriber, SyncProgress
from runtime.sync.request import SyncRequest
from runtime.sync.result import SyncResult
from runtime.sync.settings import S3Config

__all__ = [
    "ProgressSubscriber",
    "S3Config",
    "SyncError",
    "SyncFailed",
    "SyncLocationError",
    "SyncProgress",
    "SyncRequest",
    "SyncResult",
    "TransientSyncError",
    "sync",
]
