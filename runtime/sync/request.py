"""What one sync is asked to do: the shape the plan, the Lambda step and the CLI share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SyncRequest(BaseModel):
    """Copy ``source`` to ``destination``: an object or a prefix / directory, either direction.

    Locations are ``s3://bucket/key``, ``file:///abs/path`` or a plain local path, or
    ``efs://fs-id:/path`` (resolved to a local path through the process's EFS mounts).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    size_only: bool = False
    force: bool = False
    delete: bool = False
    # A shared-cache stage-in: keep a completion record next to the destination, reuse it
    # while the source is unchanged, and let exactly one of several concurrent stagers download.
    cached: bool = False
