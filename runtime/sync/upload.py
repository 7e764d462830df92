"""Files → S3: one PUT, or a multipart upload for large files, always with a checksum.

The backend sends a CRC32C checksum that S3 verifies before it stores the object (and keeps,
so later downloads are verified cheaply); part sizes keep any file up to 5 TiB within S3's
10,000 parts (:func:`runtime.sync.multipart.part_size_for`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from runtime.sync.backend import BytesCallback
from runtime.sync.compare import file_matches_etag
from runtime.sync.errors import SyncFailed, as_sync_error
from runtime.sync.listing import Entry
from runtime.sync.multipart import MAX_OBJECT_SIZE
from runtime.sync.sides import LocalSide, S3Side
from runtime.sync.transfer import ChainedTransfer, failed_transfer


class Upload:
    delete_batch = 1000

    def __init__(self, source: LocalSide, destination: S3Side) -> None:
        self.source = source
        self.destination = destination

    def start(self, src: Entry, on_bytes: BytesCallback) -> ChainedTransfer:
        key = self.destination.key(src.relpath)
        subject = str(self.source.path(src.relpath))
        try:
            if src.size > MAX_OBJECT_SIZE:
                raise SyncFailed(f"{subject}: larger than S3's 5 TiB object limit")
            key.encode()  # a file name that is not valid UTF-8 cannot be a key
            inner = self.destination.backend.upload(
                self.source.path(src.relpath), self.destination.bucket, key, src.size, on_bytes
            )
        except Exception as exc:
            return failed_transfer(as_sync_error(exc, subject))
        transfer = ChainedTransfer(inner)

        def settle(done: Future[bool]) -> None:
            error = done.exception()
            if error is None:
                transfer.future.set_result(None)
            else:
                transfer.future.set_exception(as_sync_error(error, subject))

        inner.future.add_done_callback(settle)
        return transfer

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        return file_matches_etag(self.source.path(src.relpath), dst)

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        keys = [self.destination.key(relpath) for relpath in relpaths]
        return self.destination.backend.delete_objects(self.destination.bucket, keys)
