"""Files → files (``file://`` inputs in local mode): copy to a partial file, rename into place.

``shutil.copyfile`` lets the kernel copy (``copy_file_range`` / ``sendfile``); the size is
checked before the rename. Deletes remove files only, never directories.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from concurrent.futures import Executor

from runtime.sync.backend import BytesCallback
from runtime.sync.compare import files_match
from runtime.sync.errors import IntegrityError, as_sync_error
from runtime.sync.listing import Entry
from runtime.sync.sides import LocalSide
from runtime.sync.transfer import ChainedTransfer, DirectoryMaker, delete_files, partial_path


class LocalCopy:
    delete_batch = 1

    def __init__(self, source: LocalSide, destination: LocalSide, pool: Executor) -> None:
        self.source = source
        self.destination = destination
        self._pool = pool
        self._directories = DirectoryMaker()

    def start(self, src: Entry, on_bytes: BytesCallback) -> ChainedTransfer:
        transfer = ChainedTransfer()
        origin = self.source.path(src.relpath)
        final = self.destination.path(src.relpath)

        def copy() -> None:
            partial = partial_path(final)
            try:
                self._directories.ensure(final.parent)
                shutil.copyfile(origin, partial)
                size = partial.stat().st_size
                if size != src.size:
                    raise IntegrityError(f"{origin}: copied {size} bytes, expected {src.size}")
                os.replace(partial, final)
            except BaseException as exc:
                partial.unlink(missing_ok=True)
                transfer.future.set_exception(as_sync_error(exc, str(origin)))
            else:
                on_bytes(size)
                transfer.future.set_result(None)

        self._pool.submit(copy)
        return transfer

    def content_matches(self, src: Entry, dst: Entry) -> bool:
        return files_match(self.source.path(src.relpath), self.destination.path(dst.relpath))

    def delete(self, relpaths: Sequence[str]) -> list[str]:
        return delete_files(self.destination.path(relpath) for relpath in relpaths)
