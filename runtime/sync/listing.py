"""Streamed, sorted listings of both sides, and the merge that pairs them.

Both sides are listed in the same order — S3's (UTF-8 byte order of the key, which for Python
strings is code-point order) — so one merge pass pairs every source entry with its destination
entry, finds destination entries absent from the source, and never holds a whole listing in
memory: a million-object prefix costs one page (and one directory) at a time.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Downloads land in hidden temporary files next to their final name; listings skip them.
PARTIAL_SUFFIX = ".demand-partial"


@dataclass(frozen=True, slots=True)
class Entry:
    """One object or file, named relative to the root of its side (``""`` for a single one)."""

    relpath: str
    size: int
    etag: str | None = None  # S3: without quotes
    checksum_algorithm: str | None = None  # S3: e.g. CRC64NVME when S3 holds a checksum
    mtime_ns: int | None = None  # files


def s3_entries(objects: Iterable[Entry], prefix: str) -> Iterator[Entry]:
    """Objects under ``prefix`` renamed relative to it; "folder" marker objects are dropped."""
    cut = len(prefix)
    for obj in objects:
        relpath = obj.relpath[cut:]
        if not relpath or (relpath.endswith("/") and obj.size == 0):
            continue
        yield Entry(relpath, obj.size, obj.etag, obj.checksum_algorithm)


def walk_local(
    root: Path, *, start_after: str | None = None, partials: list[Path] | None = None
) -> Iterator[Entry]:
    """Files under ``root`` in S3 order, after ``start_after``; partial downloads are skipped.

    Sorting each directory by ``name + "/"`` for subdirectories makes a depth-first walk come
    out in the same order as the sorted list of full relative paths (``a-b`` before ``a/x``).
    Symbolic links to files are followed; links to directories are not (no cycles). Partial
    downloads found on the way are appended to ``partials`` when given.
    """
    if root.is_dir():
        yield from _walk(root, "", start_after, partials)


def _walk(
    directory: Path, base: str, start_after: str | None, partials: list[Path] | None
) -> Iterator[Entry]:
    try:
        with os.scandir(directory) as scan:
            names = sorted(
                (entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name, entry)
                for entry in scan
            )
    except (FileNotFoundError, NotADirectoryError):
        return
    for key, entry in names:
        relpath = base + key
        if key.endswith("/"):
            # Skip a subtree only when all of it sorts before the resume point.
            if start_after is None or relpath > start_after or start_after.startswith(relpath):
                yield from _walk(Path(entry.path), relpath, start_after, partials)
            continue
        if key.endswith(PARTIAL_SUFFIX):
            if partials is not None:
                partials.append(Path(entry.path))
            continue
        if start_after is not None and relpath <= start_after:
            continue
        try:
            info = entry.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode):
            yield Entry(relpath, info.st_size, mtime_ns=info.st_mtime_ns)


def local_entry(path: Path) -> Entry | None:
    """The single file at ``path`` (relpath ``""``), or None when there is no regular file."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return Entry("", info.st_size, mtime_ns=info.st_mtime_ns)


Pair = tuple[str, Entry | None, Entry | None]


def merge(source: Iterator[Entry], destination: Iterator[Entry]) -> Iterator[Pair]:
    """Pair both sorted streams by relpath: ``(relpath, source or None, destination or None)``."""
    src = next(source, None)
    dst = next(destination, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and src.relpath < dst.relpath):
            assert src is not None
            yield src.relpath, src, None
            src = next(source, None)
        elif src is None or dst.relpath < src.relpath:
            yield dst.relpath, None, dst
            dst = next(destination, None)
        else:
            yield src.relpath, src, dst
            src = next(source, None)
            dst = next(destination, None)
