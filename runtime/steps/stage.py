"""Stage-in and stage-out as the state machine runs them: a few items, each a batch of syncs.

The state machine's Map runs one Lambda per item; an item that runs out of time returns with
a cursor and ``done: false``, and the next round resumes it. Items carry their sync requests
inline when the plan is small, or only an index range of the stored plan when it is large, so
the state machine's payload stays far below its 256 KiB limit for any plan. The stored plan is
found from the execution id (:class:`~runtime.steps.roots.ExecutionRoots`), never from a path
in the item, and every request is checked against the execution's roots before any runs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import DemandError, SpecError
from runtime.plan.builder import shared_cache_key
from runtime.plan.configuration import PlanningConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.steps.cache_prune import touch_last_used
from runtime.steps.roots import ExecutionRoots, within
from runtime.steps.workdir import read_plan
from runtime.sync import SyncResult, sync
from runtime.sync.model import SyncRequest
from runtime.volumes import (
    EfsMount,
    EfsUri,
    VolumeConfiguration,
    VolumeError,
    efs_to_local,
    resolve_request,
)

Direction = Literal["stage_in", "stage_out"]

# At most this many Lambdas per stage: more parallelism than a Map usually runs, and the
# state transitions (one per item) stay few.
MAX_ITEMS = 40
# Above this many bytes of requests in all, items refer to the stored plan instead.
INLINE_LIMIT = 32 * 1024


class StagingRefusedError(SpecError):
    """A stage request outside what this execution may touch: never run, never retried."""


class SyncItem(BaseModel):
    """One Map iteration's work: requests ``[start, stop)`` of a stage, and how far it got."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    direction: Direction
    start: int = Field(ge=0)
    stop: int = Field(ge=0)
    # The requests themselves, or None: requests [start, stop) of the stored plan's stage.
    requests: list[SyncRequest] | None = None
    position: int = Field(default=0, ge=0)
    cursor: str | None = None
    done: bool = False
    transferred: int = 0
    skipped: int = 0
    bytes: int = 0
    cache_hits: int = 0

    def load_requests(self, roots: ExecutionRoots, mounts: Sequence[EfsMount]) -> list[SyncRequest]:
        if self.requests is not None:
            return self.requests
        stage = getattr(read_plan(roots, mounts), self.direction)
        return list(stage[self.start : self.stop])


@dataclass(frozen=True)
class StagingPolicy:
    """What any stage of this environment may do, from its settings (never from the request)."""

    volumes: VolumeConfiguration
    allowed_schemes: frozenset[str]
    allowed_buckets: frozenset[str] | None = None
    # Whether a stage-out may delete at its destination (the environment mirrors outputs).
    mirror_outputs: bool = False

    @classmethod
    def of(cls, configuration: PlanningConfiguration) -> StagingPolicy:
        context = configuration.context
        return cls(
            configuration.volumes,
            context.allowed_schemes,
            context.allowed_buckets,
            context.mirror_outputs,
        )

    def roots(self, execution_id: str) -> ExecutionRoots:
        return ExecutionRoots.of(execution_id, self.volumes)

    def problems(
        self,
        request: SyncRequest,
        direction: Direction,
        roots: ExecutionRoots,
        mounts: Sequence[EfsMount] = (),
    ) -> list[str]:
        """Why this request may not run as part of ``direction`` of this execution.

        With ``mounts``, also whether a directory on the way from its root to the local side
        is a link: a job could turn ``results`` into a link to ``/`` so that ``results/x``
        names a file of the step's own file system.
        """
        problems = []
        if request.delete and (direction == "stage_in" or not self.mirror_outputs):
            # Only a stage-out deletes, and only where the environment mirrors outputs: the
            # shared cache and the working dir are never a mirror's destination.
            problems.append(f"delete is not part of {direction} here")
        if direction == "stage_in":
            remote, local = request.source, request.destination
            places = [roots.shared, *roots.own]
        else:
            remote, local = request.destination, request.source
            places = [roots.working]
        problems += self._remote_problems(remote)
        try:
            place = next((place for place in places if within(local, place)), None)
        except (VolumeError, ValueError):
            place = None
        if place is None:
            where = ", ".join(str(place) for place in places)
            problems.append(f"{local!r} is outside {where}")
        elif place == roots.shared and not within(
            local, roots.shared.joinpath(shared_cache_key(remote, request.filters))
        ):
            # A cache entry holds its own source's selection only: its dir is named by the
            # hash of the source and the filters.
            problems.append(f"{local!r} is not the cache entry of {remote!r} with its filters")
        elif mounts:
            link = _link_on_the_way(efs_to_local(place, mounts), efs_to_local(local, mounts))
            if link is not None:
                problems.append(f"{local!r}: {link} is a link; staging never follows one")
        return problems

    def _remote_problems(self, remote: str) -> list[str]:
        scheme = remote.partition("://")[0] if "://" in remote else ""
        if scheme not in self.allowed_schemes:
            return [f"{remote!r}: this environment stages only {sorted(self.allowed_schemes)}"]
        if scheme == "s3" and self.allowed_buckets is not None:
            bucket = remote.removeprefix("s3://").partition("/")[0]
            if bucket not in self.allowed_buckets:
                return [f"{remote!r}: bucket {bucket!r} is not one this environment uses"]
        return []

    def check(
        self,
        item: SyncItem,
        requests: Sequence[SyncRequest],
        roots: ExecutionRoots,
        mounts: Sequence[EfsMount],
    ) -> None:
        problems = [
            f"{item.direction} request {item.start + index} of {item.execution_id}: {problem}"
            for index, request in enumerate(requests)
            for problem in self.problems(request, item.direction, roots, mounts)
        ]
        if not problems and item.requests is not None and any(r.delete for r in requests):
            # A mirror deletes: it runs only as the stored plan (which no job can write) has
            # it, so that no item handed to a step can delete at any other destination.
            planned = set(getattr(read_plan(roots, mounts), item.direction))
            problems = [
                f"{item.direction} request {item.start + index} of {item.execution_id}: "
                "deletes, and is not one of the stored plan's"
                for index, request in enumerate(requests)
                if request.delete and request not in planned
            ]
        if problems:
            raise StagingRefusedError(problems)


def _link_on_the_way(root: Path, path: Path) -> Path | None:
    """The first of ``root`` and the directories between it and ``path`` that is a link (the
    sync engine itself refuses ``path`` being one)."""
    candidate = root
    for part in (None, *path.relative_to(root).parts[:-1]):
        if part is not None:
            candidate = candidate / part
        if candidate.is_symlink():
            return candidate
    return None


def sync_items(plan: ExecutionPlan, direction: Direction) -> list[SyncItem]:
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
        )
        for start in range(0, len(requests), per_item)
    ]


Syncer = Callable[..., SyncResult]


def _stamp_cache_entry(
    request: SyncRequest, roots: ExecutionRoots, mounts: Sequence[EfsMount]
) -> None:
    """A shared input's cache entry was just used (a hit or a fresh staging): its last-used
    stamp keeps cache pruning (runtime.steps.cache_prune) away from it."""
    try:
        destination = EfsUri.parse(request.destination)
    except VolumeError:
        return
    if destination == roots.shared or not within(destination, roots.shared):
        return  # an isolated input, in the execution's own dirs
    key = PurePosixPath(destination.path).relative_to(roots.shared.path).parts[0]
    touch_last_used(efs_to_local(roots.shared.joinpath(key), mounts))


class MissingOutputError(DemandError):
    """The job succeeded but left nothing where the request said an output would be."""


def _check_output_exists(
    planned: SyncRequest, resolved: SyncRequest, roots: ExecutionRoots
) -> None:
    # Said in the request's own terms (the output's path in the working dir), not as the
    # engine's "source does not exist: efs://…", which names no output a user wrote.
    source = resolved.source.removeprefix("file://")
    if "://" in source or os.path.lexists(source):
        return
    relative = planned.source.removeprefix(str(roots.working)).strip("/") or planned.source
    raise MissingOutputError(
        f"output {relative!r}: the job left nothing at {relative} in its working dir"
    )


def run_item(
    item: SyncItem,
    policy: StagingPolicy,
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
    roots = policy.roots(item.execution_id)
    requests = item.load_requests(roots, mounts)
    policy.check(item, requests, roots, mounts)
    totals = item.model_dump(include={"transferred", "skipped", "bytes", "cache_hits"})
    position, cursor = item.position, item.cursor
    while position < len(requests):
        request = resolve_request(requests[position], mounts)
        if item.direction == "stage_out":
            _check_output_exists(requests[position], request, roots)
        result = syncer(request, deadline=deadline, cursor=cursor)
        totals["transferred"] += result.transferred
        totals["skipped"] += result.skipped
        totals["bytes"] += result.bytes
        totals["cache_hits"] += int(result.cache_hit)
        result.raise_for_failures()
        if not result.done:
            return item.model_copy(update={"position": position, "cursor": result.cursor, **totals})
        if item.direction == "stage_in":
            _stamp_cache_entry(requests[position], roots, mounts)
        position, cursor = position + 1, None
    return item.model_copy(update={"position": position, "cursor": None, "done": True, **totals})
