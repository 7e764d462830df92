"""Files → files (``file://`` inputs in local mode): copy to a partial file, rename into place.

The source is opened as listed (:func:`runtime.sync.localfs.open_listed`: a regular file, no
link); the kernel copies between the two descriptors (``sendfile``) where it can. The size is
checked before the rename. Deletes remove files only, never directories.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import Executor

from runtime.sync.backend import BytesCallback, Cancellable, NotCancellable
from runtime.sync.compare import files_match
from runtime.sync.errors import IntegrityError
from runtime.sync.listing import Entry
from runtime.sync.localfs import Placer, open_listed
from runtime.sync.sides import LocalSide
from runtime.sync.transfer import Completion, MoveDone, delete_files

CHUNK = 1 << 20


class LocalCopy:
    delete_batch = 1

    def __init__(self, source: LocalSide, destination: LocalSide, pool: Executor) -> None:
        self.source = source
        self.destination = destination
        self._pool = pool
        self._placer = Placer(destination.root, single=destination.single)

    def start(self, src: Entry, on_bytes: BytesCallback, on_done: MoveDone) -> Cancellable:
        origin = str(self.source.path(src.relpath))
        done = Completion(on_done, origin)

        def copy() -> None:
            with done.guard():
                opened = open_listed(origin, src)
                try:
                    directory = self._placer.directory(src.relpath)
                    partial, fd = self._placer.partials.create()
                    try:
                        try:
                            size = copy_fd(opened.fd, fd)
                        finally:
                            os.close(fd)
                        if size != src.size:
                            raise IntegrityError(
                                f"{origin}: copied {size} bytes, expected {src.size}"
                            )
                        self._placer.place(partial, src.relpath, directory)
                    except BaseException:
                        with contextlib.suppress(OSError):
                            os.unlink(partial)
                        raise
                finally:
                    opened.close()
                on_bytes(size)
                done(None)

        with done.guard():
            self._pool.submit(copy)
        return NotCancellable()

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        return files_match(self.source.path(src.relpath), self.destination.path(dst.relpath))

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        return delete_files(self.destination.path(relpath) for relpath in relpaths)


def copy_fd(source: int, destination: int) -> int:
    """Copy all of ``source`` (from its start) to ``destination``; the bytes copied."""
    copied = 0
    try:
        while sent := os.sendfile(destination, source, copied, CHUNK):
            copied += sent
        return copied
    except OSError:
        if copied:
            raise
    # No sendfile between two files here (macOS): through Python, the old way.
    with open(source, "rb", closefd=False) as fin, open(destination, "wb", closefd=False) as fout:
        fin.seek(0)
        shutil.copyfileobj(fin, fout, CHUNK)
        return fout.tell()
