"""The state machine that carries one demand execution from spec to finished job.

Prepare → (Register ∥ Stage in) → Run job → Stage out → Cleanup. No state catches a failure:
the step that fails (its retries spent) fails the execution itself, with its own error and
cause, so that ``demand retry`` can redrive the execution from that step — Step Functions
redrives the states that did not exit, and a caught failure exits its state (a redrive would
only run the catcher again). What a failed execution leaves is cleaned up from outside, as for
an abort or a timeout: the environment's rule on unsuccessful ends
(infra/constructs/stopped_cleanup.py), once the redrive window has passed.

The stage-in and stage-out loops re-run their Map while any sync reports ``done: false``: a
sync that nears the Lambda time limit returns its cursor instead of finishing, and the next
pass resumes it (syncs already done return at once).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.functions import LambdaSteps
from infra.constructs.state_machines import logged_state_machine
from runtime import contract

LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# Raised by the handlers (runtime/errors.py, runtime/sync/errors.py) for what may succeed when
# tried again; Step Functions matches them by the exception's class name.
TRANSIENT_STEP_ERRORS = [contract.ERROR_TRANSIENT_AWS, contract.ERROR_TRANSIENT_SYNC]
# How Step Functions reports Batch API throttling and server errors on submitJob.
BATCH_API_ERRORS = [
    "Batch.AWSBatchException",
    "Batch.TooManyRequestsException",
    "Batch.ServerException",
]


def _retry_with_backoff(
    state: tasks.LambdaInvoke | sfn.CustomState,
    errors: list[str],
    *,
    first: Duration,
    attempts: int,
    longest: Duration,
) -> None:
    """Exponential backoff with full jitter, so that retries of many executions spread out."""
    state.add_retry(
        errors=errors,
        interval=first,
        max_attempts=attempts,
        backoff_rate=2,
        max_delay=longest,
        jitter_strategy=sfn.JitterType.FULL,
    )


@dataclass(frozen=True)
class _SyncLoop:
    map: sfn.Map
    choice: sfn.Choice


class Orchestration(Construct):
    """The environment's Standard state machine, logged to CloudWatch Logs and traced."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine_name: str,
        environment: str,
        functions: LambdaSteps,
        job_queues: list[batch.JobQueue],
        job_definitions: str,
        map_concurrency: int,
        execution_timeout: Duration,
        log_retention: logs.RetentionDays,
        log_execution_data: bool,
        removal_policy: RemovalPolicy,
        reuse: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._map_concurrency = map_concurrency
        self._environment = environment

        # Prepare learns which execution it serves from Step Functions itself: the request's
        # execution_id must be this execution's name (unique per state machine), so no request
        # can take over another's working dir or stored plan.
        prepare = self._invoke(
            "Prepare",
            functions.prepare,
            payload={
                "spec": sfn.JsonPath.object_at("$.spec"),
                "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "execution_name": sfn.JsonPath.string_at("$$.Execution.Name"),
            },
            result_path="$.plan",
        )

        # The branch's output is the ARN itself, so the Parallel reads it as "$[0]": a path
        # that every JSONPath reading agrees on ("$[0].key" is a list to some, moto's included).
        register = self._invoke(
            "Register",
            functions.register,
            input_path="$.plan.job",
            output_path="$.job_definition_arn",
        )
        stage_in = self._sync_loop("Stage in", "$.plan.stage_in", "Sync input", functions.sync)
        stage_in.choice.otherwise(sfn.Succeed(self, "Staged in"))
        register_and_stage_in = sfn.Parallel(
            self,
            "Register and stage in",
            result_selector={"job_definition_arn": sfn.JsonPath.string_at("$[0]")},
            result_path="$.registered",
        )
        register_and_stage_in.branch(register)
        register_and_stage_in.branch(stage_in.map)

        run_job = self._run_job()

        stage_out = self._sync_loop("Stage out", "$.plan.stage_out", "Sync output", functions.sync)

        cleanup = self._invoke(
            "Cleanup",
            functions.cleanup,
            payload={
                "cleanup": sfn.JsonPath.object_at("$.plan.cleanup"),
                "status": "SUCCEEDED",
                # What Prepare's reuse check saw: Cleanup records the result from it.
                **({"reuse": sfn.JsonPath.object_at("$.plan.reuse")} if reuse else {}),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        stage_out.choice.otherwise(cleanup)

        if reuse:
            # A result already known was delivered by Prepare (docs/reuse.md): the execution
            # ends here, in three transitions (Prepare, this Choice, the Succeed), nothing
            # staged and no job submitted.
            reused = sfn.Choice(self, contract.STATE_REUSED_CHOICE)
            reused.when(
                sfn.Condition.is_string("$.plan.reused_from"),
                sfn.Succeed(self, contract.STATE_REUSED),
            )
            reused.otherwise(register_and_stage_in)
            prepare.next(reused)
            register_and_stage_in.next(run_job).next(stage_out.map)
            definition: sfn.IChainable = prepare
        else:
            definition = prepare.next(register_and_stage_in).next(run_job).next(stage_out.map)

        self.state_machine, self.log_group = logged_state_machine(
            self,
            state_machine_name,
            definition,
            timeout=execution_timeout,
            log_retention=log_retention,
            removal_policy=removal_policy,
            log_execution_data=log_execution_data,
        )
        self._grant_batch_submission(job_queues, job_definitions)

    def _invoke(
        self,
        state_name: str,
        function: lambda_.IFunction,
        *,
        payload: dict[str, object] | None = None,
        input_path: str | None = None,
        output_path: str | None = None,
        result_path: str | None = None,
        result_selector: dict[str, object] | None = None,
    ) -> tasks.LambdaInvoke:
        """A Lambda step whose result is the handler's return value itself."""
        task = tasks.LambdaInvoke(
            self,
            state_name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload) if payload is not None else None,
            payload_response_only=True,
            retry_on_service_exceptions=False,
            input_path=input_path,
            output_path=output_path,
            result_path=result_path,
            result_selector=result_selector,
        )
        _retry_with_backoff(
            task,
            LAMBDA_SERVICE_ERRORS,
            first=Duration.seconds(2),
            attempts=6,
            longest=Duration.seconds(30),
        )
        _retry_with_backoff(
            task,
            TRANSIENT_STEP_ERRORS,
            first=Duration.seconds(5),
            attempts=5,
            longest=Duration.minutes(2),
        )
        return task

    def _sync_loop(
        self, name: str, requests_path: str, sync_state_name: str, sync: lambda_.IFunction
    ) -> _SyncLoop:
        """A Map of syncs over ``<requests_path>.items``, repeated while any is not done."""
        map_state = sfn.Map(
            self,
            name,
            items_path=f"{requests_path}.items",
            max_concurrency=self._map_concurrency,
            result_selector={
                "items": sfn.JsonPath.entire_payload,
                "pending": sfn.JsonPath.string_at("States.ArrayContains($[*].done, false)"),
            },
            result_path=requests_path,
        )
        map_state.item_processor(self._invoke(sync_state_name, sync))
        choice = sfn.Choice(self, f"{name} pending?")
        choice.when(
            sfn.Condition.boolean_equals(f"{requests_path}.pending", True),
            map_state,
        )
        map_state.next(choice)
        return _SyncLoop(map_state, choice)

    def _run_job(self) -> sfn.CustomState:
        """batch:submitJob.sync with the plan's job, whole objects taken from the state."""
        submit = "$.plan.job.submit"
        state = sfn.CustomState(
            self,
            "Run job",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{Stack.of(self).partition}:states:::batch:submitJob.sync",
                "Parameters": {
                    "JobDefinition.$": "$.registered.job_definition_arn",
                    "JobName.$": f"{submit}.JobName",
                    "JobQueue.$": f"{submit}.JobQueue",
                    "ContainerOverrides.$": f"{submit}.ContainerOverrides",
                    "Tags.$": f"{submit}.Tags",
                    "PropagateTags": True,
                },
                "ResultSelector": {"JobId.$": "$.JobId", "Status.$": "$.Status"},
                "ResultPath": "$.job",
            },
        )
        _retry_with_backoff(
            state,
            BATCH_API_ERRORS,
            first=Duration.seconds(5),
            attempts=8,
            longest=Duration.minutes(2),
        )
        return state

    def _grant_batch_submission(
        self, job_queues: list[batch.JobQueue], job_definitions: str
    ) -> None:
        stack = Stack.of(self)
        role = self.state_machine.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SubmitToOwnQueues",
                actions=["batch:SubmitJob"],
                resources=[*(queue.job_queue_arn for queue in job_queues), job_definitions],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagSubmittedJobs",
                actions=["batch:TagResource"],
                resources=[stack.format_arn(service="batch", resource="job", resource_name="*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="FollowJobs",
                actions=["batch:DescribeJobs"],
                resources=["*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                # Jobs carry their environment's tag (propagated from the plan's tags).
                sid="StopOwnJobs",
                actions=["batch:TerminateJob"],
                resources=[stack.format_arn(service="batch", resource="job", resource_name="*")],
                conditions={
                    "StringEquals": {"aws:ResourceTag/demand:environment": self._environment}
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SyncIntegrationRule",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForBatchJobsRule",
                    )
                ],
            )
        )
