"""The S3 ⇄ file-system transfer engine: fast, verified, atomic, cache-safe and resumable.

``sync(request, ...)`` copies an object or a prefix / directory between ``s3://``, ``file://``
or plain paths and ``efs://`` locations; see :func:`runtime.sync.api.sync`.

The names below are loaded on first use, so that ``python -m runtime.sync`` (which needs none
of the pydantic models) starts quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.sync.api import sync
    from runtime.sync.errors import SyncError, SyncFailed, SyncLocationError, TransientSyncError
    from runtime.sync.progress import ProgressSubscriber, SyncProgress
    from runtime.sync.request import SyncRequest
    from runtime.sync.result import SyncResult
    from runtime.sync.settings import S3Config

_EXPORTS = {
    "sync": "runtime.sync.api",
    "SyncError": "runtime.sync.errors",
    "SyncFailed": "runtime.sync.errors",
    "SyncLocationError": "runtime.sync.errors",
    "TransientSyncError": "runtime.sync.errors",
    "ProgressSubscriber": "runtime.sync.progress",
    "SyncProgress": "runtime.sync.progress",
    "SyncRequest": "runtime.sync.request",
    "SyncResult": "runtime.sync.result",
    "S3Config": "runtime.sync.settings",
}

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


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime.sync' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
