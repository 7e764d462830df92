"""An environment's notifications: an SNS topic, and the function that publishes each end to it.

An EventBridge rule on the state machine's terminal status changes (SUCCEEDED, FAILED,
TIMED_OUT, ABORTED) invokes ``runtime.handlers.notify``; a Lambda rather than EventBridge's own
SNS target because that target cannot set message attributes, which subscriptions filter on.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runtime import contract

EXECUTION_ENDS = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
STATUS_CHANGE = "Step Functions Execution Status Change"


def execution_status_rule_pattern(
    state_machine: sfn.IStateMachine, statuses: list[str]
) -> events.EventPattern:
    """This state machine's status changes to one of ``statuses``."""
    return events.EventPattern(
        source=["aws.states"],
        detail_type=[STATUS_CHANGE],
        detail={"stateMachineArn": [state_machine.state_machine_arn], "status": statuses},
    )


class Notifications(Construct):
    """The topic (``topic``) and the function that feeds it (``function``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        state_machine: sfn.StateMachine,
        code: lambda_.Code,
        runtime: lambda_.Runtime,
        powertools: dict[str, str],
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"demand {environment_name}: executions that ended",
            enforce_ssl=True,
            # SNS's own key: only this function publishes, so no service principal needs it.
            master_key=kms.Alias.from_alias_name(self, "TopicKey", "alias/aws/sns"),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Publishes each execution's end to the environment's SNS topic",
            runtime=runtime,
            architecture=lambda_.Architecture.ARM_64,
            handler="runtime.handlers.notify.handler",
            code=code,
            timeout=Duration.seconds(30),
            memory_size=256,
            environment={
                contract.ENV_ENVIRONMENT: environment_name,
                contract.ENV_NOTIFICATION_TOPIC_ARN: self.topic.topic_arn,
                **powertools,
            },
            tracing=lambda_.Tracing.ACTIVE,
            log_group=logs.LogGroup(
                self, "Logs", retention=log_retention, removal_policy=removal_policy
            ),
        )
        self.topic.grant_publish(self.function)
        # The input, when the event left it out for size: this state machine's executions only.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadEndedExecutions",
                actions=["states:DescribeExecution"],
                resources=[
                    Stack.of(self).format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{state_machine.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.rule = events.Rule(
            self,
            "ExecutionEnded",
            description="Each end of the environment's executions, to the notification function",
            event_pattern=execution_status_rule_pattern(state_machine, EXECUTION_ENDS),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
