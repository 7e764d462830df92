"""Lists or prunes the shared input cache (runtime.steps.cache_prune).

Invoked by the environment's schedule (``{"action": "prune"}``) and by `demand cache list|prune
--env`, never by the state machine.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from runtime import contract
from runtime.deployment import DeploymentSettings
from runtime.documents import validate_document
from runtime.errors import ConfigError
from runtime.handlers.events import parsed_event
from runtime.handlers.observability import deadline_from, logger
from runtime.steps.cache_prune import (
    MAX_LISTED,
    CacheLayout,
    PruneSettings,
    list_cache,
    prune_cache,
)


class CacheBounds(BaseModel):
    """The pruning function's own variables (docs/deploy.md, The input cache)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    max_unused_days: int | None = Field(default=30, ge=1, alias=contract.ENV_CACHE_MAX_UNUSED_DAYS)
    size_budget_gib: float | None = Field(
        default=None, gt=0, alias=contract.ENV_CACHE_SIZE_BUDGET_GIB
    )

    @classmethod
    def from_environment(cls) -> CacheBounds:
        values = {name: value for name, value in os.environ.items() if value != ""}
        return validate_document(cls, values, ConfigError)


class CacheEvent(BaseModel):
    """What to do; an operator's invocation may tighten or loosen the bounds for this run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["list", "prune"] = "prune"
    dry_run: bool = False
    max_unused_days: int | None = Field(default=None, ge=0, le=36500)
    size_budget_gib: float | None = Field(default=None, ge=0)


@logger.inject_lambda_context
@parsed_event(CacheEvent)
def handler(event: CacheEvent, context: LambdaContext) -> dict[str, Any]:
    deployment = DeploymentSettings.from_environment()
    layout = CacheLayout.of(deployment.planning().volumes, deployment.mounts())
    if event.action == "list":
        entries = list_cache(layout)
        return {
            "entries": [entry.to_json() for entry in entries[:MAX_LISTED]],
            "count": len(entries),
            "bytes": sum(entry.size for entry in entries),
        }
    bounds = CacheBounds.from_environment()
    settings = PruneSettings.of(
        event.max_unused_days if event.max_unused_days is not None else bounds.max_unused_days,
        event.size_budget_gib if event.size_budget_gib is not None else bounds.size_budget_gib,
    )
    deadline = deadline_from(context.get_remaining_time_in_millis(), time.monotonic())
    report = prune_cache(layout, settings, dry_run=event.dry_run, deadline=deadline)
    result = report.to_json()
    logger.info("pruned", extra={k: v for k, v in result.items() if k != "removed"})
    return result
