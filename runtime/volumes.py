"""Volumes and the three views of one file.

A file on the shared EFS file system has three names:

- its *container path*, as the job sees it (``/opt/efs/scratch/X``);
- its *EFS URI*, independent of any mount (``efs://fs-123:/scratch/X``);
- its *local path*, where this process has the file system mounted (a Lambda's ``/mnt/efs``,
  or a directory on a laptop standing in for EFS).

This module is the one place that converts between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from runtime.sync.model import SyncRequest

VolumeName = Literal["scratch", "shared", "tmp"]

EFS_URI_PATTERN = re.compile(r"efs://(?P<fs>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<path>/.*)", re.DOTALL)


class VolumeError(ValueError):
    """A path or URI that no configured volume or mount can resolve."""


def _absolute_posix(value: str) -> str:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError(f"must be an absolute path without '..', got {value!r}")
    return str(path)


AbsolutePosixPath = Annotated[str, AfterValidator(_absolute_posix)]


class EfsUri(BaseModel):
    """``efs://<file system id>:<absolute path inside the file system>``."""

    model_config = ConfigDict(frozen=True)

    file_system_id: str
    path: AbsolutePosixPath

    @classmethod
    def parse(cls, uri: str) -> EfsUri:
        match = EFS_URI_PATTERN.fullmatch(uri)
        if match is None:
            raise VolumeError(f"not an EFS URI (efs://fs-id:/path): {uri!r}")
        return cls(file_system_id=match["fs"], path=match["path"])

    def __str__(self) -> str:
        return f"efs://{self.file_system_id}:{self.path}"

    def joinpath(self, *parts: str) -> EfsUri:
        return EfsUri(
            file_system_id=self.file_system_id, path=str(PurePosixPath(self.path, *parts))
        )


class Volume(BaseModel):
    """One EFS directory mounted into the job's container."""

    model_config = ConfigDict(frozen=True)

    name: VolumeName
    file_system_id: str
    access_point_id: str | None = None
    efs_path: AbsolutePosixPath
    container_path: AbsolutePosixPath
    read_only: bool = False

    def efs_uri(self, relative: str = "") -> EfsUri:
        path = PurePosixPath(self.efs_path, relative) if relative else PurePosixPath(self.efs_path)
        return EfsUri(file_system_id=self.file_system_id, path=str(path))


class VolumeConfiguration(BaseModel):
    """Where the scratch, shared and (optional) tmp volumes live and where jobs see them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file_system_id: str = Field(default="fs-local", min_length=1)
    shared_access_point_id: str | None = None
    scratch_efs_path: AbsolutePosixPath = "/scratch"
    shared_efs_path: AbsolutePosixPath = "/shared"
    tmp_efs_path: AbsolutePosixPath = "/tmp"
    # Control data (each execution's stored plan): never mounted into any job.
    control_efs_path: AbsolutePosixPath = "/control"
    scratch_container_path: AbsolutePosixPath = "/opt/efs/scratch"
    shared_container_path: AbsolutePosixPath = "/opt/efs/shared"
    tmp_container_path: AbsolutePosixPath = "/opt/efs/tmp"
    use_tmp_volume: bool = False

    @property
    def scratch(self) -> Volume:
        return Volume(
            name="scratch",
            file_system_id=self.file_system_id,
            efs_path=self.scratch_efs_path,
            container_path=self.scratch_container_path,
        )

    @property
    def shared(self) -> Volume:
        # The input cache is shared by every job: jobs may read it, never change it.
        return Volume(
            name="shared",
            file_system_id=self.file_system_id,
            access_point_id=self.shared_access_point_id,
            efs_path=self.shared_efs_path,
            container_path=self.shared_container_path,
            read_only=True,
        )

    @property
    def tmp(self) -> Volume | None:
        if not self.use_tmp_volume:
            return None
        return Volume(
            name="tmp",
            file_system_id=self.file_system_id,
            efs_path=self.tmp_efs_path,
            container_path=self.tmp_container_path,
        )

    def volumes(self) -> list[Volume]:
        return [v for v in (self.scratch, self.shared, self.tmp) if v is not None]


def _relative_to(path: PurePosixPath, base: PurePosixPath) -> PurePosixPath | None:
    try:
        return path.relative_to(base)
    except ValueError:
        return None


def container_to_efs(container_path: str, volumes: Iterable[Volume]) -> EfsUri:
    """The EFS URI of a path as the job's container sees it."""
    path = PurePosixPath(_absolute_posix(container_path))
    for volume in _longest_first(volumes, key="container_path"):
        relative = _relative_to(path, PurePosixPath(volume.container_path))
        if relative is not None:
            return volume.efs_uri(str(relative) if relative.parts else "")
    raise VolumeError(f"container path {container_path!r} is on no mounted volume")


class EfsMount(BaseModel):
    """Where this process sees a file system: its ``efs_path`` is mounted at ``local_path``."""

    model_config = ConfigDict(frozen=True)

    file_system_id: str
    efs_path: AbsolutePosixPath = "/"
    local_path: Path


def efs_to_local(uri: EfsUri | str, mounts: Iterable[EfsMount]) -> Path:
    """The local path of an EFS URI, through whichever mount covers it."""
    efs = EfsUri.parse(uri) if isinstance(uri, str) else uri
    for mount in _longest_first(mounts, key="efs_path"):
        if mount.file_system_id != efs.file_system_id:
            continue
        relative = _relative_to(PurePosixPath(efs.path), PurePosixPath(mount.efs_path))
        if relative is not None:
            return mount.local_path.joinpath(*relative.parts)
    raise VolumeError(f"{efs} is not under any local mount of {efs.file_system_id}")


def resolve_location(location: str, mounts: Iterable[EfsMount]) -> str:
    """A sync location with an ``efs://`` URI replaced by its local path (a trailing ``/``,
    "into this directory", kept); any other location unchanged."""
    if not location.startswith("efs://"):
        return location
    path = str(efs_to_local(location, mounts))
    return path + "/" if location.endswith("/") and not path.endswith("/") else path


def resolve_request(request: SyncRequest, mounts: Iterable[EfsMount]) -> SyncRequest:
    """The request as the sync engine runs it here: ``efs://`` locations made local paths."""
    return request.with_locations(
        resolve_location(request.source, mounts), resolve_location(request.destination, mounts)
    )


_Located = TypeVar("_Located", Volume, EfsMount)


def _longest_first(items: Iterable[_Located], *, key: str) -> Iterator[_Located]:
    # The most specific prefix wins when volumes nest (e.g. /scratch and /scratch/tmp).
    depth = lambda item: len(PurePosixPath(getattr(item, key)).parts)  # noqa: E731
    return iter(sorted(items, key=depth, reverse=True))
