"""Files → files (``file://`` inputs in local mode): copy to a partial file, rename into place.

``shutil.copyfile`` lets the kernel copy (``copy_file_range`` / ``sendfile``); the size is
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
from runtime.sync.sides import LocalSide
from runtime.sync.transfer import (
    Completion,
    DirectoryMaker,
    MoveDone,
    delete_files,
    partial_path,
)


class LocalCopy:
    delete_batch = 1

    def __init__(self, source: LocalSide, destination: LocalSide, pool: Executor) -> None:
        self.source = source
        self.destination = destination
        self._pool = pool
        self._directories = DirectoryMaker()

    def start(self, src: Entry, on_bytes: BytesCallback, on_done: MoveDone) -> Cancellable:
        origin = str(self.source.path(src.relpath))
        final = str(self.destination.path(src.relpath))
        done = Completion(on_done, origin)

        def copy() -> None:
            with done.guard():
                partial = partial_path(final)
                try:
                    self._directories.ensure(os.path.dirname(final))
                    shutil.copyfile(origin, partial)
                    size = os.stat(partial).st_size
                    if size != src.size:
                        raise IntegrityError(f"{origin}: copied {size} bytes, expected {src.size}")
                    os.replace(partial, final)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(partial)
                    raise
                on_bytes(size)
                done(None)

        with done.guard():
            self._pool.submit(copy)
        return NotCancellable()

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        return files_match(self.source.path(src.relpath), self.destination.path(dst.relpath))

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        return delete_files(self.destination.path(relpath) for relpath in relpaths)
