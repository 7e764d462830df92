"""Lambda step 2b / 4: one stage-in or stage-out item, until done or out of time."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.deployment import DeploymentSettings
from runtime.handlers.events import parsed_event
from runtime.handlers.observability import deadline_from, logger
from runtime.steps.stage import StagingPolicy, SyncItem, run_item


@logger.inject_lambda_context
@parsed_event(SyncItem)
def handler(event: SyncItem, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(execution_id=event.execution_id, direction=event.direction)
    deadline = deadline_from(context.get_remaining_time_in_millis(), time.monotonic())
    settings = DeploymentSettings.from_environment()
    policy = StagingPolicy.of(settings.planning())
    item = run_item(event, policy, settings.mounts(), deadline=deadline)
    logger.info("sync item", extra=item.model_dump(exclude={"requests", "cursor"}))
    return item.model_dump()
