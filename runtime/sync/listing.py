"""Streamed, sorted listings of both sides, and the merge that pairs them.

Both sides are listed in the same order — S3's (UTF-8 byte order of the key, which for Python
strings is code-point order) — so one merge pass pairs every source entry with its destination
entry, finds destination entries absent from the source, and never holds a whole listing in
memory: a million-object prefix costs one page (and one directory) at a time.
"""

from __future__ import annotations

import heapq
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True, slots=True)
class Entry:
    """One object or file, named relative to the root of its side (``""`` for a single one)."""

    relpath: str
    size: int
    etag: str | None = None  # S3: without quotes
    checksum_algorithm: str | None = None  # S3: e.g. CRC64NVME when S3 holds a checksum
    mtime_ns: int | None = None  # files
    # Files: which file this is. A job can restore a file's mtime after writing it, but not
    # its ctime (any change sets it to now) nor, after replacing it, its inode.
    dev: int | None = None
    ino: int | None = None
    ctime_ns: int | None = None
    # Files: why this is not a regular file the engine may read or keep ("a symbolic link").
    refused: str | None = None


def s3_entries(objects: Iterable[Entry], prefix: str) -> Iterator[Entry]:
    """Objects under ``prefix`` renamed relative to it; "folder" marker objects are dropped."""
    cut = len(prefix)
    for obj in objects:
        relpath = obj.relpath[cut:]
        if not relpath or (relpath.endswith("/") and obj.size == 0):
            continue
        yield Entry(relpath, obj.size, obj.etag, obj.checksum_algorithm)


def refusal(info: os.stat_result, *, sending: bool) -> str | None:
    """Why a file with this ``lstat`` cannot be taken as a regular file of its tree, or None.

    ``sending``: the file is to be read (uploaded or copied), so a hard link is refused too —
    its other names may be anywhere, a host file among them. A destination's hard links are
    harmless: files are replaced by renaming, never written in place.
    """
    mode = info.st_mode
    if stat.S_ISREG(mode):
        if sending and info.st_nlink > 1:
            return f"a hard link ({info.st_nlink} names for one file)"
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def file_entry(relpath: str, info: os.stat_result, *, sending: bool) -> Entry:
    return Entry(
        relpath,
        info.st_size,
        mtime_ns=info.st_mtime_ns,
        dev=info.st_dev,
        ino=info.st_ino,
        ctime_ns=info.st_ctime_ns,
        refused=refusal(info, sending=sending),
    )


def walk_local(
    root: Path, *, start_after: str | None = None, sending: bool = False
) -> Iterator[Entry]:
    """Everything under ``root`` but directories, in S3 order, after ``start_after``.

    Sorting each directory by ``name + "/"`` for subdirectories makes a depth-first walk come
    out in the same order as the sorted list of full relative paths (``a-b`` before ``a/x``);
    memory stays bounded however many names one directory holds (:func:`sorted_names`).
    Nothing is followed: a symbolic link (to a file or to a directory), a device, a FIFO or a
    socket is listed with ``refused`` saying what it is — so that a sending side reports it
    and a receiving side replaces it — and so is a hard link when ``sending``.
    """
    if root.is_dir():
        yield from _walk(root, "", start_after, sending)


def _walk(directory: Path, base: str, start_after: str | None, sending: bool) -> Iterator[Entry]:
    try:
        keys = sorted_names(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    prefix = f"{directory}/"
    for key in keys:
        relpath = base + key
        if key.endswith("/"):
            # Skip a subtree only when all of it sorts before the resume point.
            if start_after is None or relpath > start_after or start_after.startswith(relpath):
                yield from _walk(Path(prefix + key[:-1]), relpath, start_after, sending)
            continue
        if start_after is not None and relpath <= start_after:
            continue
        try:
            info = os.lstat(prefix + key)
        except FileNotFoundError:
            continue
        yield file_entry(relpath, info, sending=sending)


# Names of one directory sorted in memory at most this many at a time; beyond, in sorted runs
# spilled to temporary files and merged, so a walk's memory does not grow with a directory.
SORT_RUN = 50_000


def sorted_names(directory: Path) -> Iterator[str]:
    """The names in ``directory``, a subdirectory's with ``/`` appended, in code-point order
    (what makes a depth-first walk come out in S3 order), streamed: the whole directory is
    read before the first name comes out (the scan must end before anything is known to be
    first), but at most :data:`SORT_RUN` names are held in memory at once."""
    runs: list[IO[bytes]] = []
    batch: list[str] = []
    try:
        with os.scandir(directory) as scan:
            for entry in scan:
                batch.append(
                    entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name
                )
                if len(batch) >= SORT_RUN:
                    runs.append(_spill(batch))
                    batch = []
        batch.sort()
        if not runs:
            yield from batch
            return
        if batch:
            runs.append(_spill(batch))
            batch = []
        yield from heapq.merge(*(_read_run(run) for run in runs))
    finally:
        for run in runs:
            run.close()


def _spill(names: list[str]) -> IO[bytes]:
    """A sorted run in a temporary file (removed when closed), NUL-separated: a file name can
    hold any character but NUL and ``/``; undecodable bytes round-trip as surrogates."""
    names.sort()
    run = tempfile.TemporaryFile()  # noqa: SIM115 (closed by sorted_names once merged)
    for name in names:
        run.write(name.encode("utf-8", "surrogatepass") + b"\0")
    run.seek(0)
    return run


def _read_run(run: IO[bytes]) -> Iterator[str]:
    pending = b""
    while chunk := run.read(1 << 16):
        *whole, pending = (pending + chunk).split(b"\0")
        for name in whole:
            yield name.decode("utf-8", "surrogatepass")


def local_entry(path: Path, *, sending: bool = False) -> Entry | None:
    """What is at ``path`` (relpath ``""``), not followed if a link; None when nothing or a
    directory is there."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(info.st_mode):
        return None
    return file_entry("", info, sending=sending)


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
