"""Is the destination's copy current? Decided without reading bodies whenever possible.

Sizes first (free); then, unless ``size_only``, content: an ETag the completion record already
vouches for (free), else the local file's MD5 — or multipart ETag — against S3's ETag, or a
byte comparison between two local files. Content checks read files, so the engine runs them
on worker threads.
"""

from __future__ import annotations

import enum
import filecmp
from pathlib import Path

from runtime.sync.listing import Entry
from runtime.sync.multipart import StrPath, etag_matches


class Verdict(enum.Enum):
    CURRENT = "current"
    STALE = "stale"
    CHECK_CONTENT = "check content"


def quick_verdict(src: Entry, dst: Entry | None, *, size_only: bool, force: bool) -> Verdict:
    """What listings alone can tell. A local entry's ``etag`` is one the completion record
    vouched for (the very file recorded, unchanged). A destination that is not a regular file
    (a link, a FIFO ...) is replaced, whatever it leads to."""
    if force or dst is None or dst.refused is not None or src.size != dst.size:
        return Verdict.STALE
    if size_only:
        return Verdict.CURRENT
    if src.etag is not None and dst.etag is not None:
        return Verdict.CURRENT if src.etag == dst.etag else Verdict.STALE
    return Verdict.CHECK_CONTENT


def file_matches_etag(path: StrPath, entry_with_etag: Entry) -> bool:
    """Whether a local file holds the S3 object described by ``entry_with_etag``."""
    if entry_with_etag.etag is None:
        return False
    try:
        return etag_matches(path, entry_with_etag.size, entry_with_etag.etag) is True
    except FileNotFoundError:
        return False


def files_match(left: Path, right: Path) -> bool:
    try:
        return filecmp.cmp(left, right, shallow=False)
    except FileNotFoundError:
        return False
