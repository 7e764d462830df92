"""The S3 ⇄ file-system transfer engine: fast, verified, atomic, cache-safe and resumable.

``sync(request, ...)`` copies an object or a prefix / directory between ``s3://``, ``file://``
and plain paths; see :func:`runtime.sync.api.sync`. A leaf: it imports nothing of the rest of
``runtime`` but :mod:`runtime.errors`.

The names below are loaded on first use, so that ``python -m runtime.sync`` starts quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.sync.api import sync
    from runtime.sync.errors import SyncError, SyncFailed, SyncLocationError, TransientSyncError
    from runtime.sync.model import SyncRequest, SyncResult
    from runtime.sync.progress import ProgressSubscriber, SyncProgress
    from runtime.sync.settings import S3Config

_EXPORTS = {
    "sync": "runtime.sync.api",
    "SyncError": "runtime.sync.errors",
    "SyncFailed": "runtime.sync.errors",
    "SyncLocationError": "runtime.sync.errors",
    "TransientSyncError": "runtime.sync.errors",
    "ProgressSubscriber": "runtime.sync.progress",
    "SyncProgress": "runtime.sync.progress",
    "SyncRequest": "runtime.sync.model",
    "SyncResult": "runtime.sync.model",
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
