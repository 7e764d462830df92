"""Keeping the shared input cache within bounds: a function over the file system, on a schedule.

``runtime.handlers.cache_prune`` removes entries unused for longer than ``cache.max_unused_days``
(and the least recently used beyond ``cache.size_budget_gib``), never one a stager holds or a
live execution's plan names. An EventBridge schedule runs it every ``cache.prune_every_hours``;
`demand cache list|prune --env` invokes the same function.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.config import CacheSettings
from infra.constructs.functions import FunctionPlacement, placed_function
from runtime import contract


class CachePruning(Construct):
    """The pruning function (``function``) and its schedule (``schedule``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: CacheSettings,
        placement: FunctionPlacement,
        step_variables: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        bounds = {
            contract.ENV_CACHE_MAX_UNUSED_DAYS: _text(settings.max_unused_days),
            contract.ENV_CACHE_SIZE_BUDGET_GIB: _text(settings.size_budget_gib),
        }
        self.function = placed_function(
            self,
            "Function",
            placement,
            log_group_id="Logs",
            description="Lists the shared input cache and removes entries no one uses",
            handler="runtime.handlers.cache_prune.handler",
            timeout=Duration.minutes(15),
            memory_size=512,
            # The steps' variables: the same file system, the same layout, read the same way.
            environment={**step_variables, **bounds},
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Prunes the shared input cache",
            schedule=events.Schedule.rate(Duration.hours(settings.prune_every_hours)),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    event=events.RuleTargetInput.from_object({"action": "prune"}),
                    retry_attempts=2,
                )
            ],
        )


def _text(value: int | None) -> str:
    return "" if value is None else str(value)
