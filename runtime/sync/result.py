"""What one call of :func:`runtime.sync.sync` did: the summary every caller reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from runtime.sync.errors import SyncFailed, TransientSyncError
from runtime.sync.job import Summary


class SyncResult(BaseModel):
    """Counts for this call only; a resumed sync reports what the resumed call did."""

    model_config = ConfigDict(frozen=True)

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
    # One line per failed object, each naming it (at most MAX_ERRORS, then a count of the rest).
    errors: list[str] = Field(default_factory=list)
    # True when every failure was of a kind a later retry may cure (throttling, 5xx, ...).
    retryable: bool = False

    @classmethod
    def of(cls, summary: Summary) -> SyncResult:
        return cls.model_validate(summary.as_dict())

    def raise_for_failures(self) -> None:
        """Raise the error a state machine should see when any object failed."""
        if not self.failed:
            return
        message = "; ".join(self.errors) or f"{self.failed} objects failed"
        if self.retryable:
            raise TransientSyncError(message)
        raise SyncFailed(message)
