"""Keeping the shared input cache within bounds: a function over the file system, on a schedule.

``runtime.handlers.cache_prune`` removes entries unused for longer than ``cache.max_unused_days``
(and the least recently used beyond ``cache.size_budget_gib``), never one a stager holds or a
live execution's plan names. An EventBridge schedule runs it every ``cache.prune_every_hours``;
`demand cache list|prune --env` invokes the same function.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import CacheSettings
from runtime import contract


class CachePruning(Construct):
    """The pruning function (``function``) and its schedule (``schedule``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: CacheSettings,
        code: lambda_.Code,
        runtime: lambda_.Runtime,
        step_variables: Mapping[str, str],
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        access_point: efs.IAccessPoint,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        bounds = {
            contract.ENV_CACHE_MAX_UNUSED_DAYS: _text(settings.max_unused_days),
            contract.ENV_CACHE_SIZE_BUDGET_GIB: _text(settings.size_budget_gib),
        }
        self.function = lambda_.Function(
            self,
            "Function",
            description="Lists the shared input cache and removes entries no one uses",
            runtime=runtime,
            architecture=lambda_.Architecture.ARM_64,
            handler="runtime.handlers.cache_prune.handler",
            code=code,
            timeout=Duration.minutes(15),
            memory_size=512,
            # The steps' variables: the same file system, the same layout, read the same way.
            environment={**step_variables, **bounds},
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group],
            filesystem=lambda_.FileSystem.from_efs_access_point(
                access_point, contract.LAMBDA_EFS_MOUNT_PATH
            ),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=logs.LogGroup(
                self, "Logs", retention=log_retention, removal_policy=removal_policy
            ),
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
