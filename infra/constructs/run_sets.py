"""The run-set state machine: one execution of the environment's state machine per row of a
manifest in S3, on Step Functions' own engine (a Distributed Map), not a loop of ours.

``demand submit TEMPLATE --table ROWS`` uploads the manifest — a JSON list of
``{"row": N, "spec": {...}}``, every row already validated — under
:data:`runtime.contract.RUN_SET_PREFIX` in the data bucket and starts this state machine, named
after the set, on ``{"set_id", "attempt", "manifest_key", "rows_key", "max_concurrency",
"tolerated_failure_percentage"}``:

    Check the limits ──► Rows (Distributed Map: ItemReader = the manifest;
         │                     each item: startExecution.sync:2 of the execution state
         │                     machine, named after the row's execution_id, and waits for it;
         │                     ResultWriter = the data bucket) ──► Done
         └─ outside them ──► Refused (Fail)

So 10,000 rows need no client staying alive, and no state's payload holds more than one row.
The concurrency and the tolerated failures come from the request, within the environment's
settings (``run_sets`` in cdk.json); the first Choice refuses an input outside them, whoever
started the execution.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.state_machines import logged_state_machine
from runtime import contract

# How Step Functions names the errors of starting an execution (the StartExecution API's error
# codes, as "StepFunctions.<code>Exception"): a retry may get past the account's limit of open
# executions or throttling. A row's own failure (States.TaskFailed) is its outcome, never
# retried here.
START_RETRY_ERRORS = [
    "StepFunctions.ExecutionLimitExceededException",
    "StepFunctions.AWSStepFunctionsException",
    "StepFunctions.SdkClientException",
]


class RunSets(Construct):
    """``demand-<env>-sets``: a Standard state machine with one Distributed Map."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine_name: str,
        executions: sfn.IStateMachine,
        data_bucket: s3.IBucket,
        max_concurrency: int,
        tolerated_failure_percentage: float,
        log_retention: logs.RetentionDays,
        log_execution_data: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        run_row = tasks.StepFunctionsStartExecution(
            self,
            contract.STATE_RUN_ROW,
            state_machine=executions,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            # The row's execution is named after its execution_id, which Prepare requires, so
            # a row is never run twice under one id, and `demand status` finds it by name.
            name=sfn.JsonPath.string_at("$.spec.execution_id"),
            input=sfn.TaskInput.from_object({"spec": sfn.JsonPath.object_at("$.spec")}),
            associate_with_parent=True,
            # The row's whole output (its plan) is not needed here: its id and how it ended.
            result_selector={
                "ExecutionArn": sfn.JsonPath.string_at("$.ExecutionArn"),
                "Status": sfn.JsonPath.string_at("$.Status"),
            },
        )
        run_row.add_retry(
            errors=START_RETRY_ERRORS,
            interval=Duration.seconds(5),
            max_attempts=8,
            backoff_rate=2,
            max_delay=Duration.minutes(5),
            jitter_strategy=sfn.JitterType.FULL,
        )
        rows = sfn.DistributedMap(
            self,
            contract.STATE_ROWS,
            item_reader=sfn.S3JsonItemReader(
                bucket=data_bucket, key=sfn.JsonPath.string_at("$.manifest_key")
            ),
            max_concurrency_path="$.max_concurrency",
            tolerated_failure_percentage_path="$.tolerated_failure_percentage",
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_writer_v2=sfn.ResultWriterV2(
                bucket=data_bucket, prefix=f"{contract.RUN_SET_PREFIX}results"
            ),
            label="Rows",
        )
        rows.item_processor(run_row)

        refused = sfn.Fail(
            self,
            "Refused",
            error=contract.ERROR_RUN_SET_REFUSED,
            cause=(
                f"max_concurrency must be 1–{max_concurrency} and tolerated_failure_percentage "
                f"0–{tolerated_failure_percentage:g} (this environment's run_sets settings), "
                "manifest_key under " + contract.RUN_SET_PREFIX
            ),
        )
        within = sfn.Condition.and_(
            sfn.Condition.is_present("$.manifest_key"),
            sfn.Condition.string_matches("$.manifest_key", f"{contract.RUN_SET_PREFIX}*"),
            sfn.Condition.is_numeric("$.max_concurrency"),
            sfn.Condition.number_greater_than_equals("$.max_concurrency", 1),
            sfn.Condition.number_less_than_equals("$.max_concurrency", max_concurrency),
            sfn.Condition.is_numeric("$.tolerated_failure_percentage"),
            sfn.Condition.number_greater_than_equals("$.tolerated_failure_percentage", 0),
            sfn.Condition.number_less_than_equals(
                "$.tolerated_failure_percentage", tolerated_failure_percentage
            ),
        )
        check = sfn.Choice(self, "Check the limits").when(within, rows).otherwise(refused)
        rows.next(sfn.Succeed(self, "Done"))

        self.state_machine, self.log_group = logged_state_machine(
            self,
            state_machine_name,
            check,
            timeout=None,
            log_retention=log_retention,
            removal_policy=removal_policy,
            log_execution_data=log_execution_data,
        )
