"""S3 → files: download to a partial file, verify, rename into place.

Verification, in order of preference: a checksum S3 holds (SHA-256 / CRC, checked by the
client as the bytes arrive); else the MD5 of a single-part ETag, or a multipart ETag whose part
size can be inferred; always the size. A mismatch leaves nothing under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from pathlib import Path

from runtime.sync.backend import BytesCallback
from runtime.sync.compare import file_matches_etag
from runtime.sync.errors import IntegrityError, as_sync_error
from runtime.sync.listing import Entry
from runtime.sync.multipart import etag_matches
from runtime.sync.sides import LocalSide, S3Side
from runtime.sync.transfer import (
    ChainedTransfer,
    DirectoryMaker,
    delete_files,
    failed_transfer,
    partial_path,
    safe_relpath,
)


class Download:
    delete_batch = 1

    def __init__(self, source: S3Side, destination: LocalSide, finisher: Executor) -> None:
        self.source = source
        self.destination = destination
        # Verifying reads the whole file: done on a few threads (hashlib drops the GIL),
        # never on the client's event-loop threads.
        self._finisher = finisher
        self._directories = DirectoryMaker()

    def start(self, src: Entry, on_bytes: BytesCallback) -> ChainedTransfer:
        key = self.source.key(src.relpath)
        subject = f"s3://{self.source.bucket}/{key}"
        try:
            final = self.destination.path(safe_relpath(src.relpath, subject))
            self._directories.ensure(final.parent)
            partial = partial_path(final)
            obj = Entry(key, src.size, src.etag, src.checksum_algorithm)
            inner = self.source.backend.download(self.source.bucket, obj, partial, on_bytes)
        except Exception as exc:
            return failed_transfer(as_sync_error(exc, subject))
        transfer = ChainedTransfer(inner)
        inner.future.add_done_callback(
            lambda done: self._finisher.submit(
                self._finish, done, src, subject, partial, final, transfer.future
            )
        )
        return transfer

    def _finish(
        self,
        done: Future[bool],
        src: Entry,
        subject: str,
        partial: Path,
        final: Path,
        outcome: Future[None],
    ) -> None:
        try:
            verify(partial, src, subject, checksum_validated=done.result())
            os.replace(partial, final)
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            outcome.set_exception(as_sync_error(exc, subject))
        else:
            outcome.set_result(None)

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        return file_matches_etag(self.destination.path(src.relpath), src)

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        return delete_files(self.destination.path(relpath) for relpath in relpaths)


def verify(path: Path, src: Entry, subject: str, *, checksum_validated: bool) -> None:
    """Raise :class:`IntegrityError` unless the file at ``path`` is the object ``src``."""
    size = path.stat().st_size
    if size != src.size:
        raise IntegrityError(f"{subject}: received {size} bytes, the object has {src.size}")
    if checksum_validated or src.etag is None:
        return
    if etag_matches(path, size, src.etag) is False:
        raise IntegrityError(f"{subject}: checksum mismatch: content does not match the ETag")
