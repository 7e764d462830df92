"""The environment's table of reuse records (docs/reuse.md): Prepare reads it, Cleanup writes.

On-demand capacity (a record is read once per execution and written once per success: no
capacity to plan), a TTL on the expiry the steps write, point-in-time recovery, AWS-owned
encryption. Its items hold only keys, ETags and output locations — no parameter values.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from runtime import contract


class ReuseRecords(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=contract.REUSE_KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute=contract.REUSE_TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal_policy,
        )

    def allow(self, *, reader: lambda_.IFunction, writer: lambda_.IFunction) -> None:
        """The check reads one item; the record's writer puts one, conditionally. No scans,
        no deletes (expiry is the TTL's)."""
        self.table.grant(reader, "dynamodb:GetItem")
        self.table.grant(writer, "dynamodb:PutItem")
