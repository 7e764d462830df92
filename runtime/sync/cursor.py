"""The continuation cursor: how far a sync got, as an opaque string for the state machine.

A sync walks its merged listing in order, so "everything up to relpath X is done" describes
its progress completely. The cursor also carries the running digest of the source entries
placed so far (the shared cache's completion check spans calls), and the request's
fingerprint so a cursor cannot resume a different sync.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from typing import TypeVar

from runtime.sync.errors import InvalidCursorError

CURSOR_VERSION = 1


@dataclass(frozen=True)
class Cursor:
    fp: str
    # Every entry whose relpath sorts at or before this one is done (None: nothing yet).
    after: str | None = None
    # Sum (mod 2**256) of the digests of source entries placed so far, and their count.
    digest: int = 0
    count: int = 0

    def encode(self) -> str:
        fields = {"v": CURSOR_VERSION, **asdict(self), "digest": f"{self.digest:x}"}
        raw = json.dumps(fields, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, fingerprint: str) -> Cursor:
        try:
            fields = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = cls(
                fp=_typed(fields["fp"], str),
                after=None if fields["after"] is None else _typed(fields["after"], str),
                digest=int(_typed(fields["digest"], str), 16),
                count=_typed(fields["count"], int),
            )
            version = fields["v"]
        except (binascii.Error, ValueError, TypeError, KeyError) as exc:
            raise InvalidCursorError(f"not a sync cursor: {text[:40]!r}") from exc
        if version != CURSOR_VERSION or cursor.fp != fingerprint:
            raise InvalidCursorError("the cursor belongs to a different sync request")
        return cursor


_T = TypeVar("_T")


def _typed(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}")
    return value
