"""Files → S3: one PUT, or a multipart upload for large files, always with a checksum.

The backend sends a CRC32C checksum that S3 verifies before it stores the object (and keeps,
so later downloads are verified cheaply); part sizes keep any file up to 5 TiB within S3's
10,000 parts (:func:`runtime.sync.multipart.part_size_for`). The client reads the file as
opened and checked here (:func:`runtime.sync.localfs.open_listed`), never a link's target.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.sync.backend import BytesCallback, Cancellable, NotCancellable
from runtime.sync.compare import file_matches_etag
from runtime.sync.errors import SyncFailed
from runtime.sync.listing import Entry
from runtime.sync.localfs import open_listed
from runtime.sync.multipart import MAX_OBJECT_SIZE
from runtime.sync.sides import LocalSide, S3Side
from runtime.sync.transfer import Completion, MoveDone


class Upload:
    delete_batch = 1000

    def __init__(self, source: LocalSide, destination: S3Side) -> None:
        self.source = source
        self.destination = destination
        self._root = str(source.root)

    def _origin(self, relpath: str) -> str:
        return f"{self._root}/{relpath}" if relpath else self._root

    def start(self, src: Entry, on_bytes: BytesCallback, on_done: MoveDone) -> Cancellable:
        key = self.destination.key(src.relpath)
        origin = self._origin(src.relpath)
        done = Completion(on_done, origin)

        try:
            if src.size > MAX_OBJECT_SIZE:
                raise SyncFailed(f"{origin}: larger than S3's 5 TiB object limit")
            key.encode()  # a file name that is not valid UTF-8 cannot be a key
            opened = open_listed(origin, src)
        except Exception as exc:
            done.fail(exc)
            return NotCancellable()

        def landed(error: BaseException | None, _validated: bool) -> None:
            with done.guard():
                opened.close()
                done(error)

        try:
            return self.destination.backend.upload(
                opened.path, self.destination.bucket, key, src.size, on_bytes, landed
            )
        except Exception as exc:
            opened.close()
            done.fail(exc)
            return NotCancellable()

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        return file_matches_etag(self._origin(src.relpath), dst)

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        keys = [self.destination.key(relpath) for relpath in relpaths]
        return self.destination.backend.delete_objects(self.destination.bucket, keys)
