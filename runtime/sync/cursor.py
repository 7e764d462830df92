"""The continuation cursor: how far a sync got, as an opaque string for the state machine.

A sync walks its merged listing in order, so "everything up to relpath X is done" describes
its progress completely. The cursor also carries the running digest of the source entries
placed so far (the shared cache's completion check spans calls), and a fingerprint of the
request so a cursor cannot resume a different sync.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.sync.errors import InvalidCursorError
from runtime.sync.request import SyncRequest

CURSOR_VERSION = 1


def request_fingerprint(request: SyncRequest) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:16]


class Cursor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = CURSOR_VERSION
    fp: str
    # Every entry whose relpath sorts at or before this one is done (None: nothing yet).
    after: str | None = None
    # Sum (mod 2**256) of the digests of source entries placed so far, and their count.
    digest: str = "0"
    count: int = 0

    def encode(self) -> str:
        raw = json.dumps(self.model_dump(), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, request: SyncRequest) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            cursor = cls.model_validate_json(raw)
        except (binascii.Error, ValueError, ValidationError) as exc:
            raise InvalidCursorError(f"not a sync cursor: {text[:40]!r}") from exc
        if cursor.v != CURSOR_VERSION or cursor.fp != request_fingerprint(request):
            raise InvalidCursorError("the cursor belongs to a different sync request")
        return cursor

    @property
    def digest_value(self) -> int:
        return int(self.digest, 16)
