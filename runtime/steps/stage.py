"""Stage-in and stage-out as the state machine runs them: a few items, each a batch of syncs.

The state machine's Map runs one Lambda per item; an item that runs out of time returns with
a cursor and ``done: false``, and the next round resumes it. Items carry their sync requests
inline when the plan is small, or a reference to the stored plan and an index range when it is
large, so the state machine's payload stays far below its 256 KiB limit for any plan.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runtime.plan.models import ExecutionPlan
from runtime.steps.workdir import read_plan
from runtime.sync import SyncResult, sync
from runtime.sync.model import SyncRequest
from runtime.volumes import EfsMount, resolve_request

Direction = Literal["stage_in", "stage_out"]

# At most this many Lambdas per stage: more parallelism than a Map usually runs, and the
# state transitions (one per item) stay few.
MAX_ITEMS = 40
# Above this many bytes of requests in all, items refer to the stored plan instead.
INLINE_LIMIT = 32 * 1024


class SyncItem(BaseModel):
    """One Map iteration's work: requests ``[start, stop)`` of a stage, and how far it got."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    direction: Direction
    start: int = Field(ge=0)
    stop: int = Field(ge=0)
    requests: list[SyncRequest] | None = None
    plan_ref: str | None = None
    position: int = Field(default=0, ge=0)
    cursor: str | None = None
    done: bool = False
    transferred: int = 0
    skipped: int = 0
    bytes: int = 0
    cache_hits: int = 0

    def load_requests(self, mounts: Sequence[EfsMount]) -> list[SyncRequest]:
        if self.requests is not None:
            return self.requests
        if self.plan_ref is None:
            raise ValueError("a sync item needs its requests or a plan reference")
        stage = getattr(read_plan(self.plan_ref, mounts), self.direction)
        return list(stage[self.start : self.stop])


def sync_items(plan: ExecutionPlan, direction: Direction, plan_ref: str) -> list[SyncItem]:
    """Split a stage into at most :data:`MAX_ITEMS` items of consecutive requests."""
    requests: list[SyncRequest] = getattr(plan, direction)
    if not requests:
        return []
    per_item = math.ceil(len(requests) / MAX_ITEMS)
    inline = sum(len(json.dumps(asdict(r))) for r in requests) <= INLINE_LIMIT
    return [
        SyncItem(
            execution_id=plan.execution_id,
            direction=direction,
            start=start,
            stop=min(start + per_item, len(requests)),
            requests=requests[start : start + per_item] if inline else None,
            plan_ref=None if inline else plan_ref,
        )
        for start in range(0, len(requests), per_item)
    ]


Syncer = Callable[..., SyncResult]


def run_item(
    item: SyncItem,
    mounts: Sequence[EfsMount],
    *,
    deadline: float | None,
    syncer: Syncer = sync,
) -> SyncItem:
    """Work through an item's requests until done or the deadline; return the item updated.

    ``syncer`` is :func:`runtime.sync.sync` or a wrapper of it (the local runner's adds a
    progress bar); it receives each request with its ``efs://`` locations resolved through
    ``mounts``.
    """
    if item.done:
        return item
    requests = item.load_requests(mounts)
    totals = item.model_dump(include={"transferred", "skipped", "bytes", "cache_hits"})
    position, cursor = item.position, item.cursor
    while position < len(requests):
        request = resolve_request(requests[position], mounts)
        result = syncer(request, deadline=deadline, cursor=cursor)
        totals["transferred"] += result.transferred
        totals["skipped"] += result.skipped
        totals["bytes"] += result.bytes
        totals["cache_hits"] += int(result.cache_hit)
        result.raise_for_failures()
        if not result.done:
            return item.model_copy(update={"position": position, "cursor": result.cursor, **totals})
        position, cursor = position + 1, None
    return item.model_copy(update={"position": position, "cursor": None, "done": True, **totals})
