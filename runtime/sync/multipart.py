"""S3's multipart limits: part sizes for any object up to 5 TiB, and multipart ETags."""

from __future__ import annotations

import hashlib
import math
import mmap
import os
from collections.abc import Iterable

StrPath = str | os.PathLike[str]
# Files up to this size are hashed from one read; larger ones through mmap (no copy into
# Python memory, and hashlib drops the GIL while it hashes).
READ_WHOLE = 1 << 20

MiB = 1 << 20
GiB = 1 << 30
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * (1 << 40)
# Part sizes common tools use, tried when checking a multipart ETag of unknown origin:
# 8 MiB (aws cli, boto3, this engine), 5 MiB, 16 MiB, 50 MiB (s5cmd), 64 MiB.
COMMON_PART_SIZES = (8 * MiB, 5 * MiB, 16 * MiB, 50 * MiB, 64 * MiB)


def part_size_for(size: int, preferred: int = 8 * MiB) -> int:
    """The part size for an object of ``size`` bytes: ``preferred`` unless that would take
    more than 10,000 parts, then the smallest whole number of MiB that fits."""
    if size > MAX_OBJECT_SIZE:
        raise ValueError(f"{size} bytes is over S3's 5 TiB object limit")
    part = max(preferred, MIN_PART_SIZE)
    if math.ceil(size / part) > MAX_PARTS:
        part = math.ceil(size / MAX_PARTS / MiB) * MiB
    return min(part, MAX_PART_SIZE)


def is_multipart_etag(etag: str) -> bool:
    return "-" in etag


def md5_hex(path: StrPath) -> str:
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size <= READ_WHOLE:
            return hashlib.md5(handle.read()).hexdigest()
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return hashlib.md5(view).hexdigest()


def multipart_etag(path: StrPath, part_size: int) -> str:
    """The ETag S3 gives a multipart upload of this file in parts of ``part_size``."""
    digests = bytearray()
    count = 0
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        buffer = memoryview(view)  # slices of a memoryview are views, not copies
        try:
            for start in range(0, len(buffer), part_size):
                digests += hashlib.md5(buffer[start : start + part_size]).digest()
                count += 1
        finally:
            buffer.release()
    return f"{hashlib.md5(digests).hexdigest()}-{count}"


def candidate_part_sizes(size: int, parts: int, extra: Iterable[int] = ()) -> list[int]:
    """Part sizes (of the usual ones, and ours for this size) that give ``parts`` parts."""
    seen: list[int] = []
    for part in (part_size_for(size), *extra, *COMMON_PART_SIZES):
        if part not in seen and part > 0 and math.ceil(size / part) == parts:
            seen.append(part)
    return seen


def etag_matches(
    path: StrPath,
    size: int,
    etag: str,
    *,
    max_candidates: int = 2,
    part_size: int | None = None,
) -> bool | None:
    """Whether the file's content gives ``etag``: True / False, or None when it cannot tell
    (a multipart ETag whose part size is none of the usual ones). ``part_size``: the object's
    part size, known (from S3): the answer is then True or False."""
    if not is_multipart_etag(etag):
        return md5_hex(path) == etag
    count = etag.rpartition("-")[2]
    if not count.isdigit() or size == 0:
        return None
    if part_size is not None:
        return math.ceil(size / part_size) == int(count) and multipart_etag(path, part_size) == etag
    for part in candidate_part_sizes(size, int(count))[:max_candidates]:
        if multipart_etag(path, part) == etag:
            return True
    return None
