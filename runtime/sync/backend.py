"""What the engine needs from an S3 client, whichever one does the work.

Two implementations: :mod:`runtime.sync.crt_client` (the AWS CRT's S3 client: many requests
in flight for ~0.2 ms of Python per object, the fast path) and :mod:`runtime.sync.boto_backend`
(a boto3 client, e.g. one that moto intercepts in tests, or a caller's own). Transfers are
asynchronous: they return a handle whose future resolves when the body has moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from runtime.sync.listing import Entry

BytesCallback = Callable[[int], None]


class TransferHandle(Protocol):
    # Downloads: True when the client itself validated a checksum that S3 holds.
    future: Future[bool]

    def cancel(self) -> None: ...


class S3Backend(Protocol):
    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[Entry]:
        """Objects under ``prefix`` in key order, ``relpath`` holding the full key; streamed."""
        ...

    def head_object(self, bucket: str, key: str) -> Entry | None:
        """The object at ``key`` (``relpath`` is the key), or None when there is none."""
        ...

    def download(
        self, bucket: str, obj: Entry, path: Path, on_bytes: BytesCallback
    ) -> TransferHandle:
        """Write the body of ``obj`` (as listed: same ETag) to ``path``."""
        ...

    def upload(
        self, path: Path, bucket: str, key: str, size: int, on_bytes: BytesCallback
    ) -> TransferHandle:
        """Store the file at ``path`` as ``key``, multipart when large, with a checksum."""
        ...

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[str]:
        """Delete up to 1000 keys; returns one message per key that could not be deleted."""
        ...


class CompletedTransfer:
    """A handle for work that finished (or failed) before anyone waited for it."""

    def __init__(self, future: Future[bool]) -> None:
        self.future = future

    def cancel(self) -> None:
        self.future.cancel()
