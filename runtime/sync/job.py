"""A sync request as the engine sees it, and what a run of it did — plain dataclasses.

The public models (:class:`~runtime.sync.request.SyncRequest`,
:class:`~runtime.sync.result.SyncResult`) are pydantic; the engine itself is not, so that its
own command line (``python -m runtime.sync``) starts in a tenth of the time: importing pydantic
and building the models costs about 0.3 s, as long as a small sync itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Protocol

# Results travel through Step Functions (256 KiB per payload): keep the error list short.
MAX_ERRORS = 50


class RequestLike(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def include(self) -> tuple[str, ...]: ...
    @property
    def exclude(self) -> tuple[str, ...]: ...
    @property
    def size_only(self) -> bool: ...
    @property
    def force(self) -> bool: ...
    @property
    def delete(self) -> bool: ...
    @property
    def cached(self) -> bool: ...


@dataclass(frozen=True)
class SyncJob:
    source: str
    destination: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    size_only: bool = False
    force: bool = False
    delete: bool = False
    cached: bool = False

    @classmethod
    def of(cls, request: RequestLike) -> SyncJob:
        return cls(
            source=request.source,
            destination=request.destination,
            include=tuple(request.include),
            exclude=tuple(request.exclude),
            size_only=request.size_only,
            force=request.force,
            delete=request.delete,
            cached=request.cached,
        )

    def fingerprint(self) -> str:
        """Identifies the request inside its cursors."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def selection(self) -> str:
        """Identifies what a cached copy holds: the source and the filters."""
        text = json.dumps([self.source, list(self.include), list(self.exclude)])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Summary:
    """The fields of :class:`~runtime.sync.result.SyncResult`, filled in by the engine."""

    transferred: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    bytes: int = 0
    seconds: float = 0.0
    done: bool = True
    cursor: str | None = None
    cache_hit: bool = False
    errors: list[str] = field(default_factory=list)
    retryable: bool = False

    def add(self, more: Summary) -> Summary:
        """This call's totals with a later round's (the later round's state wins)."""
        errors = [*self.errors, *more.errors]
        return Summary(
            transferred=self.transferred + more.transferred,
            skipped=self.skipped + more.skipped,
            failed=self.failed + more.failed,
            deleted=self.deleted + more.deleted,
            bytes=self.bytes + more.bytes,
            seconds=more.seconds,
            done=more.done,
            cursor=more.cursor,
            cache_hit=more.cache_hit,
            errors=errors[:MAX_ERRORS],
            retryable=more.retryable,
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
