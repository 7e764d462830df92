"""What one sync is asked to do and what it did: defined once, for the engine and every caller.

Plain frozen dataclasses, so that the engine's own command line (``python -m runtime.sync``)
starts without importing pydantic (about 0.3 s, as long as a small sync itself). Pydantic models
take them as fields as they are: ``__pydantic_config__`` refuses unknown keys, and the checks in
``__post_init__`` surface as validation errors naming the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from runtime.sync.errors import SyncFailed, TransientSyncError
from runtime.sync.filters import FilterRule, check_rules

# Results travel through Step Functions (256 KiB per payload): keep the error list short.
MAX_ERRORS = 50


@dataclass(frozen=True)
class SyncRequest:
    """Copy ``source`` to ``destination``: an object or a prefix / directory, either direction.

    Locations are ``s3://bucket/key``, ``file:///abs/path`` or a plain local path. (The plan
    writes ``efs://fs-id:/path``; callers resolve it to a local path before the engine runs.)
    """

    __pydantic_config__: ClassVar[dict[str, object]] = {"extra": "forbid"}

    source: str
    destination: str
    # ("include" | "exclude", glob) in command-line order; the last match wins, as in aws s3
    # sync (see :mod:`runtime.sync.filters`).
    filters: tuple[FilterRule, ...] = ()
    size_only: bool = False
    force: bool = False
    delete: bool = False
    # A shared-cache stage-in: keep a completion record next to the destination, reuse it
    # while the source is unchanged, and let exactly one of several concurrent stagers download.
    cached: bool = False

    def __post_init__(self) -> None:
        for name in ("source", "destination"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        # Lists from JSON or argparse become tuples, so requests stay hashable and comparable.
        object.__setattr__(self, "filters", check_rules(self.filters))

    def with_locations(self, source: str, destination: str) -> SyncRequest:
        return SyncRequest(**{**asdict(self), "source": source, "destination": destination})

    def fingerprint(self) -> str:
        """Identifies the request inside its cursors."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def selection(self) -> str:
        """Identifies what a cached copy holds: the source and the filters."""
        if not self.filters:  # as before ordered filters: cached copies stay hits
            text = json.dumps([self.source, [], []])
        else:
            text = json.dumps([self.source, [list(rule) for rule in self.filters]])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class SyncResult:
    """Counts for this call only; a resumed sync reports what the resumed call did."""

    transferred: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    bytes: int = 0
    seconds: float = 0.0
    done: bool = True
    # Opaque continuation: pass it back to :func:`runtime.sync.sync` to resume (``done=False``).
    cursor: str | None = None
    # A shared-cache stage-in that found its completion record current and read no bodies.
    cache_hit: bool = False
    # One line per failed object, each naming it (at most MAX_ERRORS).
    errors: list[str] = field(default_factory=list)
    # True when every failure was of a kind a later retry may cure (throttling, 5xx, ...).
    retryable: bool = False

    def add(self, more: SyncResult) -> SyncResult:
        """This call's totals with a later round's (the later round's state wins)."""
        return SyncResult(
            transferred=self.transferred + more.transferred,
            skipped=self.skipped + more.skipped,
            failed=self.failed + more.failed,
            deleted=self.deleted + more.deleted,
            bytes=self.bytes + more.bytes,
            seconds=more.seconds,
            done=more.done,
            cursor=more.cursor,
            cache_hit=more.cache_hit,
            errors=[*self.errors, *more.errors][:MAX_ERRORS],
            retryable=more.retryable,
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def raise_for_failures(self) -> None:
        """Raise the error a state machine should see when any object failed."""
        if not self.failed:
            return
        message = "; ".join(self.errors) or f"{self.failed} objects failed"
        if self.retryable:
            raise TransientSyncError(message)
        raise SyncFailed(message)
