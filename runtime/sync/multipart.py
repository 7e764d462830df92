"""S3's multipart limits: part sizes for any object up to 5 TiB, and multipart ETags."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from io import FileIO
from typing import Any

StrPath = str | os.PathLike[str]
# Files are hashed in reads of this size into one reused buffer (hashlib drops the GIL while
# it hashes). Not mmap: every page of a mapped file counts as the process's resident memory
# while it is mapped (hashing a 320 MiB download through mmap took the sync to 390 MiB
# resident), and a sync's memory is bounded (runtime.sync.budget).
READ_SIZE = 1 << 20

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
    digest = hashlib.md5()
    with open(path, "rb", buffering=0) as handle:
        _hash_into(handle, digest, None)
    return digest.hexdigest()


def multipart_etag(path: StrPath, part_size: int) -> str:
    """The ETag S3 gives a multipart upload of this file in parts of ``part_size``."""
    digests = bytearray()
    count = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            part = hashlib.md5()
            if not _hash_into(handle, part, part_size):
                break
            digests += part.digest()
            count += 1
    return f"{hashlib.md5(digests).hexdigest()}-{count}"


def _hash_into(handle: FileIO, digest: Any, limit: int | None) -> int:
    """Feed up to ``limit`` bytes (all, if None) of ``handle`` to ``digest``; the count fed."""
    buffer = bytearray(READ_SIZE if limit is None else min(READ_SIZE, limit))
    view = memoryview(buffer)
    fed = 0
    while limit is None or fed < limit:
        want = len(view) if limit is None else min(len(view), limit - fed)
        got = handle.readinto(view[:want])
        if not got:
            break
        digest.update(view[:got])
        fed += got
    return fed


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
