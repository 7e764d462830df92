"""The sync engine's errors, named for what a Step Functions state machine does with them.

Step Functions matches a Lambda's error by the exception's class name:

- ``TransientSyncError``: throttling, 5xx, a dropped connection, an object that changed while
  it was copied — retry the state with backoff;
- ``SyncLocationError``: a location that cannot work (malformed URI, missing bucket or
  directory, an unsupported pair of locations, a cursor from another request) — fail at once;
- ``SyncFailed``: anything else that persists (access denied, objects that kept failing) — fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.errors import DemandError, is_retryable

# S3 error codes that mean the location itself is wrong.
LOCATION_CODES = frozenset({"NoSuchBucket", "InvalidBucketName", "PermanentRedirect"})


class SyncError(DemandError):
    """Base class of the sync engine's errors."""


class SyncLocationError(SyncError):
    """A source or destination that cannot be synced, whatever the retries. Fail fast."""


class EmptySourceError(SyncLocationError):
    """Nothing at an S3 source: a typo far more often than an intent, so staging fails on it;
    the command lines treat it as aws and s5cmd do (nothing to do, exit 0) unless ``--delete``
    would empty the destination."""


class SyncSettingsError(SyncLocationError):
    """A ``DEMAND_SYNC_*`` tuning variable the engine or the CRT cannot take (named)."""


class InvalidCursorError(SyncLocationError):
    """A cursor that is malformed or belongs to another request."""


class SyncFailed(SyncError):  # noqa: N818 - the state machine matches this name
    """A failure that persists: the state machine fails the execution with this message."""


class TransientSyncError(SyncError):
    """A failure that may pass: the state machine retries the step with backoff."""


class RefusedFile(SyncFailed):
    """A local path the engine will not read or write through: a symbolic link, a hard link,
    a device, a FIFO or a socket where a regular file should be (see docs/sync-safety.md)."""


class IntegrityError(TransientSyncError):
    """Bytes arrived that do not match the object's size or checksum; nothing was placed."""


def error_for_response(
    subject: str, *, code: str, status: int | None, message: str = ""
) -> SyncError:
    """The error for an S3 error response about ``subject`` (an object or a location)."""
    text = f"{subject}: {code or f'HTTP {status}'}" + (f": {message}" if message else "")
    if code in LOCATION_CODES:
        return SyncLocationError(text)
    if is_retryable(code, status or 0) or status == 429:
        return TransientSyncError(text)
    return SyncFailed(text)


def from_client_error(exc: Exception, subject: str) -> SyncError:
    """Translate a botocore ``ClientError`` (duck-typed: botocore is imported only on demand)."""
    response: Mapping[str, Any] = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code", ""))
    if code.isdigit() and status is None:
        status = int(code)
    return error_for_response(
        subject, code=code, status=status, message=str(error.get("Message", ""))
    )


class TransferCancelledError(SyncError):
    """A transfer stopped on purpose (the deadline came); callers never see it."""


# Exception class names (botocore, s3transfer, urllib3) that mean the network let us down.
TRANSIENT_EXCEPTIONS = frozenset(
    {
        "ConnectionError",
        "HTTPClientError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "RetriesExceededError",
        "IncompleteReadError",
        "ResponseStreamingError",
        "TimeoutError",
    }
)


def as_sync_error(exc: BaseException, subject: str) -> SyncError:
    """Any exception from a transfer, as the engine's error about ``subject``."""
    if isinstance(exc, SyncError):
        return exc
    if getattr(exc, "response", None) is not None:
        return from_client_error(exc if isinstance(exc, Exception) else Exception(exc), subject)
    text = f"{subject}: {type(exc).__name__}: {exc}"
    if any(cls.__name__ in TRANSIENT_EXCEPTIONS for cls in type(exc).__mro__):
        return TransientSyncError(text)
    return SyncFailed(text)
