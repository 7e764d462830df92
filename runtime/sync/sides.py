"""The two sides of a sync once resolved: what to list, and where each relpath lives.

A side is a *tree* (an S3 prefix or a directory: relpaths below it) or a *single* object or
file (one entry, relpath ``""``). Resolving needs a look at the source — an S3 key may name an
object or a prefix, a path a file or a directory — so it happens once, before anything moves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from runtime.sync.backend import S3Backend
from runtime.sync.errors import SyncLocationError
from runtime.sync.listing import Entry, local_entry, s3_entries, walk_local
from runtime.sync.localfs import Partials
from runtime.sync.locations import LocalLocation, Location, S3Location


@dataclass(frozen=True)
class S3Side:
    bucket: str
    prefix: str  # a tree's prefix ("" or ending in "/"), or a single object's key
    single: bool
    backend: S3Backend = field(repr=False, compare=False)
    # A single object's HEAD, taken when the side was resolved: the first listing uses it
    # instead of asking again (one HEAD per single-object sync, not two).
    resolved: list[Entry] = field(default_factory=list, repr=False, compare=False)

    def key(self, relpath: str) -> str:
        return self.prefix + relpath

    def entries(self, after: str | None) -> Iterator[Entry]:
        if self.single:
            if after is None:
                found = self.resolved.pop() if self.resolved else None
                found = found or self.backend.head_object(self.bucket, self.prefix)
                if found is not None:
                    yield Entry("", found.size, found.etag, found.checksum_algorithm)
            return
        start = self.prefix + after if after else None
        yield from s3_entries(
            self.backend.list_objects(self.bucket, self.prefix, start), self.prefix
        )

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class LocalSide:
    root: Path  # a tree's directory, or a single file's path
    single: bool
    # The source of a sync: its files are read, so hard links are refused too (see listing).
    sending: bool = False

    def path(self, relpath: str) -> Path:
        return self.root.joinpath(*relpath.split("/")) if relpath else self.root

    def entries(self, after: str | None) -> Iterator[Entry]:
        if self.single:
            if after is None:
                found = local_entry(self.root, sending=self.sending)
                if found is not None:
                    yield found
            return
        yield from walk_local(self.root, start_after=after, sending=self.sending)

    def partials(self) -> Partials:
        """Where partial files of this destination are kept (outside the tree)."""
        return Partials(self.root, single=self.single)

    def __str__(self) -> str:
        return str(self.root)


Side = S3Side | LocalSide


@dataclass(frozen=True)
class Route:
    source: Side
    destination: Side

    @property
    def single(self) -> bool:
        return self.source.single

    def display_name(self, relpath: str) -> str:
        return relpath or _source_name(self.source)


def resolve(
    source: Location,
    destination: Location,
    backend: Callable[[], S3Backend],
    *,
    reuse_head: bool = True,
) -> Route:
    """Decide tree or single for both sides, and check the pair can work. ``reuse_head``: the
    listing that follows at once may use the HEAD that told a single object from a prefix
    (not when it may follow much later, as after waiting for another stager's lock)."""
    if isinstance(source, S3Location) and isinstance(destination, S3Location):
        raise SyncLocationError(
            f"copies between two S3 locations are not supported: {source} → {destination}"
        )
    src = _resolve_source(source, backend, reuse_head=reuse_head)
    return Route(src, _resolve_destination(destination, src, backend))


def _resolve_source(
    location: Location, backend: Callable[[], S3Backend], *, reuse_head: bool = False
) -> Side:
    if isinstance(location, S3Location):
        client = backend()
        if location.names_prefix:
            return S3Side(location.bucket, location.key, single=False, backend=client)
        head = client.head_object(location.bucket, location.key)
        if head is not None:
            resolved = [head] if reuse_head else []
            return S3Side(location.bucket, location.key, True, client, resolved)
        return S3Side(location.bucket, location.key + "/", single=False, backend=client)
    path = location.path
    if path.is_dir() and not path.is_symlink():
        return LocalSide(path, single=False, sending=True)
    if os.path.lexists(path):
        if location.names_directory and not path.is_symlink():
            raise SyncLocationError(f"source is a file, not a directory: {location}")
        # Anything but a directory — a link (even to a directory), a FIFO — is one entry,
        # which the engine refuses by name if it is not a regular file.
        return LocalSide(path, single=True, sending=True)
    raise SyncLocationError(f"source does not exist: {location}")


def _source_name(side: Side) -> str:
    text = side.prefix if isinstance(side, S3Side) else str(side.root)
    return PurePosixPath(text).name


def _resolve_destination(
    location: Location, source: Side, backend: Callable[[], S3Backend]
) -> Side:
    if isinstance(location, S3Location):
        client = backend()
        if source.single:
            key = location.key + _source_name(source) if location.names_prefix else location.key
            return S3Side(location.bucket, key, single=True, backend=client)
        prefix = location.key if location.names_prefix else location.key + "/"
        return S3Side(location.bucket, prefix, single=False, backend=client)
    path = location.path
    if source.single:
        if location.names_directory or path.is_dir():
            path = path / _source_name(source)
        if path.is_dir():
            raise SyncLocationError(f"destination is a directory: {path}")
        return LocalSide(path, single=True)
    if path.exists() and not path.is_dir():
        raise SyncLocationError(f"destination is a file, not a directory: {location}")
    return LocalSide(path, single=False)


def check_local_roots(locations: Sequence[Location]) -> None:
    """Refuse to sync a directory into itself (or into one of its own subdirectories)."""
    paths = [loc.path.resolve() for loc in locations if isinstance(loc, LocalLocation)]
    if len(paths) == 2 and (
        paths[0] == paths[1] or paths[0] in paths[1].parents or paths[1] in paths[0].parents
    ):
        raise SyncLocationError(f"source and destination overlap: {paths[0]} and {paths[1]}")
