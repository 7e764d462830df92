"""S3 → files: download to a partial file, verify, rename into place.

Verification, in order of preference: a checksum S3 holds (SHA-256 / CRC, checked by the
client as the bytes arrive); else the MD5 of a single-part ETag, or a multipart ETag whose part
size can be inferred; always the size. A mismatch leaves nothing under the final name.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from runtime.sync.backend import BytesCallback, Cancellable, NotCancellable
from runtime.sync.compare import file_matches_etag
from runtime.sync.errors import IntegrityError, as_sync_error
from runtime.sync.listing import Entry
from runtime.sync.localfs import Identity, Placer
from runtime.sync.multipart import etag_matches, is_multipart_etag
from runtime.sync.sides import LocalSide, S3Side
from runtime.sync.transfer import Completion, MoveDone, delete_files, safe_relpath

# Objects up to this size are verified on the thread that reports them (hashing 256 KiB
# takes well under a millisecond); larger ones go to the finisher threads.
INLINE_VERIFY = 256 * 1024


class Download:
    delete_batch = 1

    def __init__(
        self,
        source: S3Side,
        destination: LocalSide,
        finisher: Executor,
        *,
        read_only: bool = False,
    ) -> None:
        self.source = source
        self.destination = destination
        self._placer = Placer(destination.root, single=destination.single, read_only=read_only)
        # Verifying reads the whole file: large ones are hashed on a few threads (hashlib
        # drops the GIL) rather than on the client's event-loop threads.
        self._finisher = finisher

    def start(self, src: Entry, on_bytes: BytesCallback, on_done: MoveDone) -> Cancellable:
        key = self.source.key(src.relpath)
        subject = f"s3://{self.source.bucket}/{key}"
        done = Completion(on_done, subject)
        try:
            relpath = safe_relpath(src.relpath, subject)
            directory = self._placer.directory(relpath)
            partial = self._placer.partials.new_path()
        except Exception as exc:
            done.fail(exc)
            return NotCancellable()

        def landed(error: BaseException | None, checksum_validated: bool) -> None:
            # Whatever goes wrong here, the engine hears that this object's move ended.
            with done.guard():
                if error is not None:
                    try:
                        _discard(partial)
                    finally:
                        done(error)
                elif src.size <= INLINE_VERIFY or checksum_validated:
                    self._finish(src, partial, directory, checksum_validated, done)
                else:
                    try:
                        self._finisher.submit(
                            self._finish, src, partial, directory, checksum_validated, done
                        )
                    except BaseException:
                        _discard(partial)
                        raise

        obj = Entry(key, src.size, src.etag, src.checksum_algorithm)
        try:
            return self.source.backend.download(self.source.bucket, obj, partial, on_bytes, landed)
        except Exception as exc:
            landed(as_sync_error(exc, subject), False)
            return NotCancellable()

    def _finish(
        self,
        src: Entry,
        partial: str,
        directory: Identity,
        checksum_validated: bool,
        done: Completion,
    ) -> None:
        with done.guard():
            try:
                verify(
                    partial,
                    src,
                    done.subject,
                    checksum_validated=checksum_validated,
                    part_size=lambda parts: self.source.backend.first_part_size(
                        self.source.bucket, self.source.key(src.relpath), parts
                    ),
                )
                self._placer.place(partial, src.relpath, directory)
            except BaseException:
                _discard(partial)
                raise
            done(None)

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        return file_matches_etag(self._placer.final(src.relpath), src)

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        return delete_files(self.destination.path(relpath) for relpath in relpaths)


def verify(
    path: str,
    src: Entry,
    subject: str,
    *,
    checksum_validated: bool,
    part_size: Callable[[int], int | None] | None = None,
) -> None:
    """Raise :class:`IntegrityError` unless the file at ``path`` is the object ``src``.

    ``checksum_validated``: the backend already checked the bytes against a full-object
    checksum S3 holds (or against the MD5 ETag as they streamed in); the size is still checked
    here. Otherwise the ETag is checked; for a multipart ETag whose part size none of the usual
    ones gives, ``part_size`` (number of parts → size of part 1, asked of S3) settles it. Only
    when that cannot tell either is the size all that is checked.
    """
    size = os.stat(path).st_size
    if size != src.size:
        raise IntegrityError(f"{subject}: received {size} bytes, the object has {src.size}")
    if checksum_validated or src.etag is None:
        return
    matches = etag_matches(path, size, src.etag)
    if matches is None and part_size is not None and is_multipart_etag(src.etag):
        parts = src.etag.rpartition("-")[2]
        known = part_size(int(parts)) if parts.isdigit() else None
        # An answer that does not give this many parts is no answer (an S3 look-alike that
        # ignores partNumber reports the whole object).
        if known and math.ceil(size / known) == int(parts):
            matches = etag_matches(path, size, src.etag, part_size=known)
    if matches is False:
        raise IntegrityError(f"{subject}: checksum mismatch: content does not match the ETag")


def _discard(path: str) -> None:
    # Gone already, or never created (a name the file system refused): nothing to remove.
    with contextlib.suppress(OSError):
        os.unlink(path)
