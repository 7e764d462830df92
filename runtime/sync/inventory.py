"""What a location holds, as a sync would see it: its entries through a request's filters.

The engine's own listing (:mod:`runtime.sync.sides`, :mod:`runtime.sync.listing`) with no
transfer after it — for callers that must know *which* objects a sync would read (results
reused: an input's identity is the list of its objects with their ETags) without reading one.
Only listings and HEADs: never an object's body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.sync.api import _Access
from runtime.sync.filters import PathFilter
from runtime.sync.listing import Entry
from runtime.sync.locations import parse_location
from runtime.sync.sides import LocalSide, S3Side, _resolve_source, _source_name

if TYPE_CHECKING:
    from runtime.sync.api import S3Access


def list_location(
    location: str, filters: tuple[tuple[str, str], ...] = (), *, s3: S3Access = None
) -> tuple[bool, list[Entry]]:
    """Whether ``location`` is a single object or file, and its entries a sync of it would
    take (relpaths below it, ``""`` for a single one), in S3 order.

    An S3 prefix holding nothing is an empty tree; a local path that does not exist raises
    :class:`~runtime.sync.errors.SyncLocationError`, as a sync from it would.
    """
    parsed = parse_location(location)
    access = _Access(s3)
    try:
        side: S3Side | LocalSide = _resolve_source(parsed, access.backend)
        select = PathFilter(filters, single_name=_source_name(side) if side.single else "")
        return side.single, [entry for entry in side.entries(None) if select(entry.relpath)]
    finally:
        access.close()
