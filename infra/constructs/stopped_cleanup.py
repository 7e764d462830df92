"""The cleanup of the ends that run no cleanup state: an execution failed, aborted, or timed out.

A failing step fails the execution itself, so that ``demand retry`` can redrive it from that
step (infra/constructs/orchestration.py), and no state runs after an abort or a timeout. An
EventBridge rule on the state machine's FAILED, ABORTED and TIMED_OUT status changes sends each
to ``runtime.handlers.stopped`` twice: to the function itself at once (terminate the execution's
Batch job), and through an SQS queue that delays it ``STOPPED_CLEANUP_DELAY_SECONDS`` (release
and remove what the execution left) — by then no Lambda step it started can still be writing,
since no step's timeout is longer; until then the execution may be redriven (the function
leaves one that was). A message the function keeps failing on goes to a dead-letter queue
after five tries.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.functions import FunctionPlacement, placed_function
from infra.constructs.notifications import execution_status_rule_pattern
from runtime import contract

TIMEOUT = Duration.minutes(5)
# Tries before a message goes to the dead-letter queue, each after the visibility timeout.
MAX_RECEIVES = 5


class StoppedExecutionCleanup(Construct):
    """The function (``function``), its delay queue (``queue``, ``dead_letters``) and the rule
    (``rule``) that feeds both."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        state_machine: sfn.StateMachine,
        longest_step: Duration,
        placement: FunctionPlacement,
        step_variables: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        delay = Duration.seconds(contract.STOPPED_CLEANUP_DELAY_SECONDS)
        if longest_step.to_seconds() > delay.to_seconds():
            raise ValueError(
                f"a step may run {longest_step.to_seconds()} s, longer than the "
                f"{delay.to_seconds()} s a stopped execution's cleanup waits for it"
            )
        self.function = placed_function(
            self,
            "Function",
            placement,
            log_group_id="Logs",
            description="Stops and cleans up an execution that failed, was aborted or timed out",
            handler="runtime.handlers.stopped.handler",
            timeout=TIMEOUT,
            memory_size=512,
            # The steps' variables: the same file system, layout and names, read the same way.
            environment=dict(step_variables),
        )
        # SQS-managed encryption: EventBridge cannot send to a queue under an AWS-managed KMS key.
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            delivery_delay=delay,
            # Lambda's advice for an SQS source: six times the function's timeout.
            visibility_timeout=Duration.seconds(6 * TIMEOUT.to_seconds()),
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVES, queue=self.dead_letters
            ),
        )
        self.function.add_event_source(sources.SqsEventSource(self.queue, batch_size=1))
        self.rule = events.Rule(
            self,
            "ExecutionStopped",
            description=(
                "Each failure, abort or timeout of the environment's executions: to the function "
                "at once (stop the job), and through the delay queue (clean up unless redriven)"
            ),
            event_pattern=execution_status_rule_pattern(
                state_machine, list(contract.UNSUCCESSFUL_STATUSES)
            ),
            targets=[
                targets.LambdaFunction(
                    self.function, retry_attempts=8, max_event_age=Duration.hours(6)
                ),
                targets.SqsQueue(self.queue, retry_attempts=8, max_event_age=Duration.hours(24)),
            ],
        )
        self._grant(environment_name, state_machine)

    def _grant(self, environment_name: str, state_machine: sfn.StateMachine) -> None:
        stack = Stack.of(self)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                # Step Functions' word on the stop: this state machine's executions only.
                sid="ConfirmStoppedExecutions",
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{state_machine.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="FindExecutionJobs", actions=["batch:ListJobs"], resources=["*"]
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                # Jobs carry their environment's tag (propagated from the plan's tags).
                sid="StopExecutionJobs",
                actions=["batch:TerminateJob"],
                resources=[stack.format_arn(service="batch", resource="job", resource_name="*")],
                conditions={
                    "StringEquals": {"aws:ResourceTag/demand:environment": environment_name}
                },
            )
        )
