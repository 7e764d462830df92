"""Parsing the locations a sync names: ``s3://``, ``file://`` and plain paths.

The engine knows nothing of EFS: callers turn a plan's ``efs://`` URIs into local paths first
(:func:`runtime.volumes.resolve_request`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from runtime.sync.errors import SyncLocationError

# Lenient on purpose (underscores, capitals): S3-compatible servers accept names S3 does not.
BUCKET_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")
SCHEME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    key: str  # "" for the whole bucket

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def names_prefix(self) -> bool:
        """``s3://b/`` and ``s3://b/dir/`` can only name a prefix, never one object."""
        return self.key == "" or self.key.endswith("/")


@dataclass(frozen=True, slots=True)
class LocalLocation:
    path: Path  # absolute
    # ``dir/`` (or ``file:///dir/``) says "into this directory" even before it exists.
    names_directory: bool
    text: str  # as the user wrote it, for messages

    def __str__(self) -> str:
        return self.text


Location = S3Location | LocalLocation


def parse_location(text: str) -> Location:
    """Parse one location."""
    if text.startswith("s3://"):
        return _parse_s3(text)
    if text.startswith("efs://"):
        raise SyncLocationError(
            f"an efs:// location names a file system, not a path here: {text!r} "
            "(use the path where it is mounted)"
        )
    if text.startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise SyncLocationError(f"file URI on another host: {text!r}")
        path_text = unquote(parts.path)
        if not path_text.startswith("/"):
            raise SyncLocationError(f"file URI needs an absolute path (file:///...): {text!r}")
        return LocalLocation(
            path=Path(path_text), names_directory=path_text.endswith("/"), text=text
        )
    if SCHEME_PATTERN.match(text):
        raise SyncLocationError(f"unsupported location (use s3://, file:// or a path): {text!r}")
    if not text:
        raise SyncLocationError("empty location")
    return LocalLocation(
        path=Path(text).expanduser().absolute(),
        names_directory=text.endswith(("/", "\\")),
        text=text,
    )


def _parse_s3(text: str) -> S3Location:
    rest = text[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not BUCKET_PATTERN.match(bucket):
        raise SyncLocationError(f"not a valid S3 location (s3://bucket/key): {text!r}")
    if "//" in key or key.startswith("/"):
        raise SyncLocationError(f"S3 key with an empty path segment: {text!r}")
    return S3Location(bucket=bucket, key=key)
