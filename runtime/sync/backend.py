"""What the engine needs from an S3 client, whichever one does the work.

Two implementations: :mod:`runtime.sync.crt_client` (the AWS CRT's S3 client: many requests
in flight for ~0.2 ms of Python per object, the fast path) and :mod:`runtime.sync.boto_backend`
(a boto3 client, e.g. one that moto intercepts in tests, or a caller's own). Transfers are
asynchronous and report through a callback (not a ``Future``: at thousands of objects a second,
the futures' locks and conditions were a measurable share of the Python time per object).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from runtime.sync.listing import Entry

BytesCallback = Callable[[int], None]
# Called once when a transfer ends: the error (None on success) and, for downloads, whether
# the client itself validated a checksum that S3 holds. May run on any thread.
DoneCallback = Callable[[BaseException | None, bool], None]


class Cancellable(Protocol):
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

    def first_part_size(self, bucket: str, key: str, parts: int) -> int | None:
        """The size of part 1 of a multipart object of ``parts`` parts (a HEAD with
        ``partNumber=1``), or None when S3 does not say so."""
        ...

    def download(
        self, bucket: str, obj: Entry, path: str, on_bytes: BytesCallback, on_done: DoneCallback
    ) -> Cancellable:
        """Write the body of ``obj`` (as listed: same ETag) to ``path``."""
        ...

    def upload(
        self,
        path: str,
        bucket: str,
        key: str,
        size: int,
        on_bytes: BytesCallback,
        on_done: DoneCallback,
    ) -> Cancellable:
        """Store the file at ``path`` as ``key``, multipart when large, with a checksum."""
        ...

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[str]:
        """Delete up to 1000 keys; returns one message per key that could not be deleted."""
        ...


class NotCancellable:
    """For work that cannot be stopped once started (or has already ended)."""

    def cancel(self) -> None:
        return None
