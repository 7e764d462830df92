"""Run the state machine that CDK synthesizes — in moto, with this project's steps behind it.

What is real and what stands in:

- the **definition** is the one in the synthesized template of an environment, with each
  CloudFormation reference replaced by a stand-in ARN (:func:`resolved_definition`); moto's
  Step Functions runs it with its Amazon States Language interpreter;
- the steps' **environment** is the one the template sets on the functions, its references
  resolved to the same stand-ins (:func:`step_variables`), the file system mounted where the
  harness keeps it;
- each **Lambda task** calls the handler named by that function's ``Handler`` in the template,
  in this process, with a fake Lambda context: moto's Lambda ``invoke`` is patched to do so,
  and a handler's exception becomes a function error named after its class, as in Lambda;
- **``batch:submitJob.sync``** goes to moto's Batch, whose job thread is patched to run the
  submitted command as a local process, with the submitted environment, seeing what its
  container would: where bubblewrap runs, in a sandbox holding only the job definition's
  volumes — each EFS root directory (or its access point's) of the stand-in bound at its mount
  point's container path, read-only where the mount point says so — and the host's system
  directories; without bubblewrap, with the container paths mapped onto the stand-in;
- a **run set** runs on the synthesized run-set state machine (:meth:`Harness.deploy` creates
  both): moto runs its Distributed Map (ItemReader from S3, MaxConcurrencyPath, the
  ResultWriter) and each item's ``states:startExecution.sync:2`` of the execution state machine,
  its field names translated as Step Functions translates them (as for Batch); it ignores
  ToleratedFailurePercentagePath. :meth:`Harness.deploy_stack` adds the stack's outputs and the
  Prepare function's variables, so the ``demand`` command itself finds the environment;
- **S3** is moto's, also served over HTTP because the sync engine's CRT client speaks HTTP
  (the ``aws`` fixture in tests/conftest.py);
- **RedriveExecution**, which moto lacks, is the harness's (:func:`_redrive`): the execution
  runs on from the top-level state that did not exit, with the input that state was entered
  with, under the same ARN, its history going on after the first run's and ``redriveCount``
  one higher. Unlike Step Functions, a Parallel or Map state that failed is run again whole,
  not only its failed branches or iterations; GetExecutionHistory honours ``reverseOrder``.

A new scenario is a few lines::

    def test_something(harness: Harness) -> None:
        harness.put_object("s3://e2e-data/inputs/a.txt", b"data")
        arn = harness.start(spec)
        assert harness.wait(arn)["status"] == "SUCCEEDED"
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from unittest import mock

import boto3
import botocore.session
from botocore import xform_name
from botocore.model import OperationModel
from moto.awslambda.models import LambdaFunction
from moto.batch.models import Job
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch import (  # noqa: E501
    StateTaskServiceBatch,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (  # noqa: E501
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.eval.evaluation_details import (
    EvaluationDetails,
    ExecutionDetails,
    StateMachineDetails,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import camel_to_snake_case
from moto.stepfunctions.responses import StepFunctionResponse

from runtime import contract
from runtime.cloud.executions import submit_execution
from runtime.cloud.stack import DeployedEnvironment
from runtime.local.sandbox import ISOLATION, find_bwrap, system_view, unavailable_reason
from tests.lambda_context import FakeLambdaContext
from tests.synthesis import EXECUTIONS_STATE_MACHINE, RUN_SETS_STATE_MACHINE, state_machine

REGION: Final = "us-west-2"
ACCOUNT = "123456789012"
FILE_SYSTEM_ID = "fs-e2e"
# The environment's data bucket: the only one its steps stage from and to (cdk.json's dev).
DATA_BUCKET = "e2e-data"
# What the harness sets beside the template's variables: no X-Ray here, and quieter logs.
HARNESS_VARIABLES = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
# The container paths of the job definition's volumes, and where they are on the stand-in.
CONTAINER_VOLUMES = {
    "/opt/efs/scratch": "scratch",
    "/opt/efs/shared": "shared",
    "/opt/efs/tmp": "tmp",
}


class _PassedOnErrorName(ErrorName):
    """An error name taken as it is, as a Fail state's ErrorPath gives it."""


def _batch_operation(action: str) -> OperationModel:
    model = botocore.session.get_session().get_service_model("batch")
    wanted = camel_to_snake_case(action)
    (name,) = (name for name in model.operation_names if xform_name(name) == wanted)
    return model.operation_model(name)


def _sfn_operation(action: str) -> OperationModel:
    model = botocore.session.get_session().get_service_model("stepfunctions")
    wanted = camel_to_snake_case(action)
    (name,) = (name for name in model.operation_names if xform_name(name) == wanted)
    return model.operation_model(name)


def _sfn_request_as_sdk(
    service: StateTaskServiceSfn,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """Step Functions' PascalCase StartExecution parameters as the SDK's (stateMachineArn...),
    the input as JSON text, as Step Functions (and LocalStack's interpreter) pass them."""
    action = service_action_name or service.resource.api_action
    if service_action_name is None and camel_to_snake_case(action) == "start_execution":
        given = parameters.get("Input")
        if not isinstance(given, str):
            parameters["Input"] = json.dumps({} if given is None else given, separators=(",", ":"))
    operation = _sfn_operation(action)
    if operation.input_shape is not None:
        service._to_boto_request(parameters, operation.input_shape)


def _sfn_response_as_sfn(
    service: StateTaskServiceSfn,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """The SDK's responses (executionArn...) as Step Functions gives them (ExecutionArn...)."""
    operation = _sfn_operation(service_action_name or service.resource.api_action)
    if operation.output_shape is not None:
        service._from_boto_response(response, operation.output_shape)


def _batch_request_as_sdk(
    service: StateTaskServiceBatch,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """Step Functions' PascalCase Batch parameters (JobName...) as the SDK's (jobName...)."""
    operation = _batch_operation(service_action_name or service.resource.api_action)
    if operation.input_shape is not None:
        service._to_boto_request(parameters, operation.input_shape)


def _batch_response_as_sfn(
    service: StateTaskServiceBatch,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    """The SDK's Batch responses (jobId, status...) as Step Functions gives them (JobId...)."""
    operation = _batch_operation(service_action_name or service.resource.api_action)
    if operation.output_shape is not None:
        service._from_boto_response(response, operation.output_shape)


_REDRIVABLE = (ExecutionStatus.FAILED, ExecutionStatus.ABORTED, ExecutionStatus.TIMED_OUT)


class _NotRedrivableError(Exception):
    """What RedriveExecution refuses (ExecutionNotRedrivable)."""


@dataclass
class _Redrives:
    """What the harness keeps of an execution's redrives (moto keeps nothing of them)."""

    count: int = 0
    date: datetime | None = None
    earlier_events: list[dict[str, Any]] = field(default_factory=list)


# Per moto execution object: a new test's executions are new objects.
_REDRIVES: weakref.WeakKeyDictionary[Any, _Redrives] = weakref.WeakKeyDictionary()


def _unexited_state(definition: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The entered event of the top-level state that did not exit (the one that failed)."""
    top = set(definition["States"])
    open_states: dict[str, dict[str, Any]] = {}
    for event in events:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] in top:
            open_states[event["stateEnteredEventDetails"]["name"]] = event
        elif kind.endswith("StateExited"):
            open_states.pop(event["stateExitedEventDetails"]["name"], None)
    if not open_states:
        raise _NotRedrivableError("no state of the execution failed")
    return max(open_states.values(), key=lambda event: int(event["id"]))


def _history(execution: Any) -> list[dict[str, Any]]:
    """The execution's events so far, the first runs' included, numbered on."""
    redrives = _REDRIVES.get(execution, _Redrives())
    earlier = redrives.earlier_events
    worker = execution.exec_worker
    current = worker.env.event_manager.get_event_history() if worker and worker.env else []
    offset = len(earlier)
    numbered = [
        {
            **event,
            "id": event["id"] + offset,
            "previousEventId": (event.get("previousEventId") or 0) + offset,
        }
        for event in current
    ]
    if earlier and numbered and numbered[0]["type"] == "ExecutionStarted":
        numbered[0] = {
            key: value
            for key, value in numbered[0].items()
            if key != "executionStartedEventDetails"
        } | {
            "type": "ExecutionRedriven",
            "executionRedrivenEventDetails": {"redriveCount": redrives.count},
        }
    return [*earlier, *numbered]


def _redrive(execution: Any) -> datetime:
    """What RedriveExecution does, as far as this harness needs it (see the module's docstring)."""
    if execution.exec_status not in _REDRIVABLE:
        raise _NotRedrivableError(f"Execution is {execution.exec_status} and cannot be redriven.")
    events = _history(execution)
    definition = json.loads(execution.state_machine.definition)
    failed = _unexited_state(definition, events)
    details = failed["stateEnteredEventDetails"]
    redriven_definition = json.dumps(definition | {"StartAt": details["name"]})
    redrives = _REDRIVES.setdefault(execution, _Redrives())
    redrives.earlier_events = events
    redrives.count += 1
    execution.exec_status = ExecutionStatus.RUNNING
    execution.stop_date = None
    execution.error = execution.cause = None
    execution.exec_worker = ExecutionWorker(
        evaluation_details=EvaluationDetails(
            aws_execution_details=execution._get_start_aws_execution_details(),
            execution_details=ExecutionDetails(
                arn=execution.exec_arn,
                name=execution.name,
                role_arn=execution.role_arn,
                inpt=json.loads(details["input"]),
                start_time=execution.start_date,
            ),
            state_machine_details=StateMachineDetails(
                arn=execution.state_machine.arn,
                name=execution.state_machine.name,
                typ=execution.state_machine.sm_type,
                definition=redriven_definition,
            ),
        ),
        exec_comm=execution._get_start_execution_worker_comm(),
        cloud_watch_logging_session=None,
        activity_store=execution._activity_store,
    )
    redrives.date = datetime.now().astimezone()
    execution.exec_worker.start()
    return redrives.date


def _redrive_response(response: StepFunctionResponse) -> ActionResult:
    execution = response.stepfunction_backend.describe_execution(
        response._get_param("executionArn")
    )
    try:
        redriven_at = _redrive(execution)
    except _NotRedrivableError as exc:
        raise JsonRESTError("ExecutionNotRedrivable", str(exc)) from None
    return ActionResult({"redriveDate": redriven_at})


def _history_response(response: StepFunctionResponse) -> ActionResult:
    execution = response.stepfunction_backend.describe_execution(
        response._get_param("executionArn")
    )
    events = _history(execution)
    if response._get_param("reverseOrder"):
        events.reverse()
    return ActionResult({"events": events})


def _described_with_redrives(
    original: Callable[[StepFunctionResponse], ActionResult],
) -> Callable[[StepFunctionResponse], ActionResult]:
    """DescribeExecution with the redrive fields Step Functions gives (moto gives none)."""

    def describe(response: StepFunctionResponse) -> ActionResult:
        described = original(response).result
        assert isinstance(described, dict)
        execution = response.stepfunction_backend.describe_execution(
            response._get_param("executionArn")
        )
        redrives = _REDRIVES.get(execution, _Redrives())
        described["redriveCount"] = redrives.count
        if redrives.date is not None:
            described["redriveDate"] = redrives.date
        if getattr(execution, "exec_status", None) in _REDRIVABLE:
            described["redriveStatus"] = "REDRIVABLE"
        return ActionResult(described)

    return describe


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def _stand_in(reference: dict[str, Any], template: dict[str, Any]) -> str:
    if "Fn::Join" in reference:
        separator, parts = reference["Fn::Join"]
        return str(separator).join(
            part if isinstance(part, str) else _stand_in(part, template) for part in parts
        )
    if "Ref" in reference:
        name = reference["Ref"]
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        if name in pseudo:
            return pseudo[name]
        resource_type = template["Resources"][name]["Type"]
        if resource_type == "AWS::EFS::FileSystem":
            return FILE_SYSTEM_ID
        if resource_type == "AWS::EFS::AccessPoint":
            return f"fsap-{name}"
        if resource_type == "AWS::S3::Bucket":
            return DATA_BUCKET
        if resource_type == "AWS::StepFunctions::StateMachine":
            machine = template["Resources"][name]["Properties"]["StateMachineName"]
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}"
        return str(name)
    logical_id, attribute = reference["Fn::GetAtt"]
    resource_type = template["Resources"][logical_id]["Type"]
    if resource_type == "AWS::Lambda::Function":
        return function_arn(logical_id)
    if resource_type == "AWS::IAM::Role" and attribute == "Arn":
        return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
    return f"arn:aws:stand-in:{REGION}:{ACCOUNT}:{logical_id}/{attribute}"


def resolved_definition(template: dict[str, Any], prefix: str = EXECUTIONS_STATE_MACHINE) -> str:
    """A state machine's definition (the executions', by default; the run sets' with
    ``RUN_SETS_STATE_MACHINE``) with stand-in ARNs for every CloudFormation reference."""
    _, machine = state_machine(template, prefix)
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, str):
        return definition
    separator, parts = definition["Fn::Join"]
    return str(separator).join(
        part if isinstance(part, str) else _stand_in(part, template) for part in parts
    )


def _step_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The project's own step functions' properties, by logical id."""
    return {
        logical_id: function["Properties"]
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
        if str(function["Properties"].get("Handler", "")).startswith("runtime.handlers.")
    }


def lambda_handlers(template: dict[str, Any]) -> dict[str, str]:
    """Function logical id → handler entry point, for the project's own step functions."""
    return {
        logical_id: function["Handler"]
        for logical_id, function in _step_functions(template).items()
    }


def step_variables(template: dict[str, Any]) -> dict[str, str]:
    """The variables the template sets on the step functions, with stand-ins for references.

    The handlers run in this one process, so they share one environment: the functions must
    not set one variable to different values.
    """
    variables: dict[str, str] = {}
    for logical_id, function in _step_functions(template).items():
        for name, value in function.get("Environment", {}).get("Variables", {}).items():
            resolved = value if isinstance(value, str) else _stand_in(value, template)
            if variables.setdefault(name, resolved) != resolved:
                raise AssertionError(f"{logical_id} sets {name} differently from another step")
    return variables


def lambda_mount_path(template: dict[str, Any]) -> str:
    """Where the step functions mount the file system (one place for all that mount it)."""
    (path,) = {
        mount["LocalMountPath"]
        for function in _step_functions(template).values()
        for mount in function.get("FileSystemConfigs", [])
    }
    return str(path)


@dataclass
class Harness:
    """One state machine in moto with the steps behind it; see the module's docstring."""

    template: dict[str, Any]
    efs: Path
    # GetObject requests per object, counted by the test's S3 (see tests/conftest.py).
    object_reads: Counter[str]
    # Seconds a Lambda has left when its handler starts (the context's remaining time).
    lambda_budget: float = 900.0
    invocations: Counter[str] = field(default_factory=Counter)
    # What each job run printed and returned (the stand-in for its CloudWatch log stream).
    job_outputs: list[subprocess.CompletedProcess[bytes]] = field(default_factory=list)
    # Per step, what its next invocations do: raise the error, or (None) run as usual.
    _faults: dict[str, list[Exception | None]] = field(default_factory=dict)
    # Status reasons with which the next jobs end without running (a queue cancelled them).
    _unstartable: list[str] = field(default_factory=list)
    # How many of the next jobs run until terminated, and set when one of them has started.
    _held: int = 0
    job_holding: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        self.batch = boto3.client("batch", region_name=REGION)
        self.handlers = lambda_handlers(self.template)
        self.variables = self.lambda_environment()
        self.job_queue = self.variables[contract.ENV_DEFAULT_JOB_QUEUE]
        _, machine = state_machine(self.template)
        self.state_machine_name = str(machine["Properties"]["StateMachineName"])
        _, run_sets = state_machine(self.template, RUN_SETS_STATE_MACHINE)
        self.run_set_state_machine_name = str(run_sets["Properties"]["StateMachineName"])

    # --- set-up ------------------------------------------------------------------------------

    def deploy(self) -> None:
        """Create in moto what the stack would: functions, a job queue, the state machine."""
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="e2e-role", AssumeRolePolicyDocument="{}", Path="/")[
            "Role"
        ]["Arn"]
        aws_lambda = boto3.client("lambda", region_name=REGION)
        for logical_id, handler in self.handlers.items():
            aws_lambda.create_function(
                FunctionName=logical_id,
                Runtime="python3.12",
                Role=role,
                Handler=handler,
                Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},  # an empty zip: never run
            )
        environment = self.batch.create_compute_environment(
            computeEnvironmentName="e2e", type="UNMANAGED", state="ENABLED", serviceRole=role
        )
        self.batch.create_job_queue(
            jobQueueName=self.job_queue,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[
                {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
            ],
        )
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for logical_id in resources(self.template, "AWS::DynamoDB::GlobalTable"):
            # The table of reuse records, named by its logical id (the stand-in for its Ref).
            dynamodb.create_table(
                TableName=logical_id,
                KeySchema=[{"AttributeName": contract.REUSE_KEY_ATTRIBUTE, "KeyType": "HASH"}],
                AttributeDefinitions=[
                    {"AttributeName": contract.REUSE_KEY_ATTRIBUTE, "AttributeType": "S"}
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        self.state_machine_arn = self.stepfunctions.create_state_machine(
            name=self.state_machine_name,
            definition=resolved_definition(self.template),
            roleArn=role,
        )["stateMachineArn"]
        self.run_set_state_machine_arn = self.stepfunctions.create_state_machine(
            name=self.run_set_state_machine_name,
            definition=resolved_definition(self.template, RUN_SETS_STATE_MACHINE),
            roleArn=role,
        )["stateMachineArn"]

    def deploy_stack(self) -> None:
        """What ``demand`` finds an environment by: the stack ``demand-dev`` with the template's
        outputs (their stand-ins), and a Prepare function with the steps' variables."""
        outputs = {
            name: (
                output["Value"]
                if isinstance(output["Value"], str)
                else _stand_in(output["Value"], self.template)
            )
            for name, output in self.template["Outputs"].items()
        }
        outputs |= {
            contract.OUTPUT_STATE_MACHINE_ARN: self.state_machine_arn,
            contract.OUTPUT_RUN_SET_STATE_MACHINE_ARN: self.run_set_state_machine_arn,
        }
        prepare = outputs[contract.OUTPUT_PREPARE_FUNCTION_NAME]
        boto3.client("lambda", region_name=REGION).update_function_configuration(
            FunctionName=prepare, Environment={"Variables": self.variables}
        )
        stack = {
            "Resources": {"Stand": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {name: {"Value": value} for name, value in outputs.items()},
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="demand-dev", TemplateBody=json.dumps(stack)
        )

    def environment(self) -> DeployedEnvironment:
        """The environment as ``demand`` finds it through its stack's outputs."""
        outputs = {
            name: output["Value"]
            for name, output in self.template["Outputs"].items()
            if isinstance(output["Value"], str)
        }
        return DeployedEnvironment(
            name="dev",
            stack_name="demand-dev",
            state_machine_arn=self.state_machine_arn,
            data_bucket=DATA_BUCKET,
            file_system_id=FILE_SYSTEM_ID,
            job_queue=self.job_queue,
            job_log_group="/aws/batch/job",
            run_set_state_machine_arn=self.run_set_state_machine_arn,
            run_set_max_concurrency=int(outputs[contract.OUTPUT_RUN_SET_MAX_CONCURRENCY]),
            run_set_tolerated_failure_percentage=float(
                outputs[contract.OUTPUT_RUN_SET_TOLERATED_FAILURE_PERCENTAGE]
            ),
        )

    def lambda_environment(self) -> dict[str, str]:
        """What the stack sets on the functions, pointing at this harness's stand-ins.

        A value that is the functions' mount path names this harness's stand-in for EFS.
        """
        mount_path = lambda_mount_path(self.template)
        variables = {
            name: str(self.efs) if value == mount_path else value
            for name, value in step_variables(self.template).items()
        }
        return variables | HARNESS_VARIABLES

    @contextmanager
    def patched(self) -> Iterator[None]:
        """Route Lambda invocations and Batch jobs through this harness."""
        harness = self

        def invoke(function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
            return harness._invoke(function.function_name, event)

        def run_job(job: Job) -> None:
            try:
                harness._run_job(job)
            except Exception as exc:  # a broken harness fails the job, never hangs the run
                job.job_stopped_reason = f"harness: {type(exc).__name__}: {exc}"
                job._mark_stopped(success=False)
                raise

        with (
            # moto refuses a Fail state whose ErrorPath gives a "States." error (the job's
            # States.TaskFailed, say); Step Functions passes it on, and so does this.
            mock.patch.object(state_fail, "CustomErrorName", _PassedOnErrorName),
            # moto's Batch integration skips the translation between Step Functions' field
            # names and the SDK's that Step Functions (and LocalStack's interpreter) does.
            mock.patch.object(
                StateTaskServiceBatch, "_normalise_parameters", _batch_request_as_sdk
            ),
            mock.patch.object(StateTaskServiceBatch, "_normalise_response", _batch_response_as_sfn),
            # The same for the Step Functions integration a run set's rows start with.
            mock.patch.object(StateTaskServiceSfn, "_normalise_parameters", _sfn_request_as_sdk),
            mock.patch.object(StateTaskServiceSfn, "_normalise_response", _sfn_response_as_sfn),
            mock.patch.object(LambdaFunction, "_invoke_lambda", invoke),
            # RedriveExecution, which moto lacks, and a history that goes on across redrives.
            mock.patch.object(
                StepFunctionResponse, "redrive_execution", _redrive_response, create=True
            ),
            mock.patch.object(StepFunctionResponse, "get_execution_history", _history_response),
            mock.patch.object(
                StepFunctionResponse,
                "describe_execution",
                _described_with_redrives(StepFunctionResponse.describe_execution),
            ),
            mock.patch.object(Job, "run", run_job),
            mock.patch.dict(os.environ, self.variables),
        ):
            yield

    # --- faults ------------------------------------------------------------------------------

    def fail_next(self, step: str, error: Exception, *, after: int = 0) -> None:
        """Make the next invocation of ``step`` (prepare, register, sync, cleanup) raise, or
        the one ``after`` further invocations of it (a stage-out's sync after the stage-in's)."""
        self._faults.setdefault(step, []).extend([*([None] * after), error])

    def cancel_next_job(self, status_reason: str) -> None:
        """End the next job without running it, as its queue's time-limit action would."""
        self._unstartable.append(status_reason)

    def hold_next_job(self) -> None:
        """Keep the next job RUNNING until it is terminated (``job_holding`` is set once it
        runs): a job that is still running when its execution stops."""
        with self._lock:
            self._held += 1

    # --- running -----------------------------------------------------------------------------

    def put_object(self, uri: str, body: bytes) -> None:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def get_object(self, uri: str) -> bytes:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def start(self, spec: dict[str, Any]) -> str:
        return str(
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=spec["execution_id"],
                input=json.dumps({"spec": spec}),
            )["executionArn"]
        )

    def submit(self, spec: dict[str, Any]) -> str:
        """Start ``spec`` as ``demand submit`` does: a large request stored in the data bucket,
        the execution started with a reference to it (runtime.cloud.requests)."""
        return submit_execution(self.environment(), spec, self.stepfunctions, self.s3)

    def wait(self, execution_arn: str, timeout: float = 600.0) -> dict[str, Any]:
        """The execution's description once it has ended (the timeout guards against a hang only:
        a loaded two-core CI machine takes minutes for what takes seconds alone)."""
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            described = self.stepfunctions.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return dict(described)
            time.sleep(0.05)
        raise TimeoutError(f"{execution_arn} still running after {timeout} s")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.stepfunctions.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn
        )
        return [dict(event) for page in pages for event in page["events"]]

    def states_entered(self, execution_arn: str) -> list[str]:
        """Names of the states entered, in order: one per state transition."""
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history(execution_arn)
            if "stateEnteredEventDetails" in event
        ]

    def status_change(self, execution_arn: str) -> dict[str, Any]:
        """The event EventBridge sends for the execution's change to its current status.

        moto's Step Functions emits no EventBridge events: the harness builds the one Step
        Functions would (Step Functions Execution Status Change, from DescribeExecution).
        """
        described = self.stepfunctions.describe_execution(executionArn=execution_arn)

        def millis(moment: datetime | None) -> int | None:
            return None if moment is None else int(moment.timestamp() * 1000)

        return {
            "version": "0",
            "id": "00000000-0000-0000-0000-000000000000",
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT,
            "time": datetime.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [execution_arn],
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": described["stateMachineArn"],
                "name": described["name"],
                "status": described["status"],
                "startDate": millis(described["startDate"]),
                "stopDate": millis(described.get("stopDate")),
                "input": described.get("input"),
                "inputDetails": {"included": True},
                "error": described.get("error"),
                "cause": described.get("cause"),
                "redriveCount": int(described.get("redriveCount", 0)),
            },
        }

    def deliver_stop(
        self, execution_arn: str, *, queued: bool, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """What the rule on unsuccessful ends does with this execution's status change
        (``event``, or the one for its current status): invoke the stopped-execution function
        with the event itself (``queued`` False: at once), or with the SQS record the delay
        queue hands it (``queued`` True: the delay is not waited for here). Returns the
        function's result; raises what it raised."""
        (function,) = (
            name for name, entry in self.handlers.items() if entry.endswith(".stopped.handler")
        )
        event = event if event is not None else self.status_change(execution_arn)
        if queued:
            event = {"Records": [{"eventSource": "aws:sqs", "body": json.dumps(event)}]}
        payload, failed, _ = self._invoke(function, event)
        result: dict[str, Any] = json.loads(payload)
        if failed:
            raise AssertionError(f"the stopped-execution function failed: {result}")
        return result

    def job_submissions(self) -> int:
        return sum(
            len(self.batch.list_jobs(jobQueue=self.job_queue, jobStatus=status)["jobSummaryList"])
            for status in ("SUCCEEDED", "FAILED")
        )

    # --- the stand-ins -----------------------------------------------------------------------

    def _invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        entry_point = self.handlers[function_name]
        step = entry_point.split(".")[2]
        with self._lock:
            self.invocations[step] += 1
            faults = self._faults.get(step)
            fault = faults.pop(0) if faults else None
        try:
            if fault is not None:
                raise fault
            module_name, attribute = entry_point.rsplit(".", 1)
            handler: Callable[[Any, Any], Any] = getattr(
                importlib.import_module(module_name), attribute
            )
            result = handler(event, FakeLambdaContext(function_name, budget=self.lambda_budget))
        except Exception as exc:  # what Lambda reports for an unhandled exception
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return json.dumps(error), True, ""
        return json.dumps(result), False, ""

    def _local_path(self, value: str) -> str:
        for container_path, directory in CONTAINER_VOLUMES.items():
            value = value.replace(container_path, str(self.efs / directory))
        return value

    def _container_view(self, job: Job) -> list[str]:
        """bwrap's options for what the job's container sees: its definition's volumes only."""
        volumes = {
            v["name"]: v["efsVolumeConfiguration"]
            for v in job._get_container_property("volumes", [])
        }
        efs = boto3.client("efs", region_name=REGION)
        binds: list[tuple[str, str, bool]] = []
        for mount in job._get_container_property("mountPoints", []):
            volume = volumes[mount["sourceVolume"]]
            root = volume.get("rootDirectory", "/")
            point = volume.get("authorizationConfig", {}).get("accessPointId")
            if point is not None:
                root = self._access_point_root(efs, point)
            host = self.efs / root.lstrip("/")
            host.mkdir(parents=True, exist_ok=True)
            binds.append((str(host), mount["containerPath"], bool(mount.get("readOnly"))))
        arguments = [*ISOLATION, *system_view(skip=("/opt",)), "--tmpfs", "/tmp"]
        arguments += ["--tmpfs", "/var/tmp", "--tmpfs", "/opt"]
        for host, container, read_only in sorted(binds, key=lambda b: len(Path(b[1]).parts)):
            arguments += ["--ro-bind" if read_only else "--bind", host, container]
        return arguments

    def _access_point_root(self, efs: Any, point: str) -> str:
        """An access point's root: the stack's (a stand-in named after its logical id), or one
        an execution's Prepare made in moto."""
        stack_point = self.template["Resources"].get(point.removeprefix("fsap-"))
        if stack_point is not None:
            return str(stack_point["Properties"]["RootDirectory"]["Path"])
        (described,) = efs.describe_access_points(AccessPointId=point)["AccessPoints"]
        return str(described["RootDirectory"]["Path"])

    def _run_job(self, job: Job) -> None:
        """What a Batch job's container would do: run the command, then report its exit."""
        with self._lock:
            cancelled = self._unstartable.pop(0) if self._unstartable else None
        if cancelled is not None:
            job.job_stopped_reason = cancelled
            job._mark_stopped(success=False)
            return
        job.job_started_at = datetime.now()
        job._start_attempt()
        with self._lock:
            held = self._held > 0
            self._held -= held
        if held:
            self._hold(job)
            return
        bwrap = find_bwrap() if unavailable_reason() is None else None
        map_path = (lambda value: value) if bwrap else self._local_path
        command = [map_path(part) for part in job._get_container_property("command", [])]
        environment = {
            item["name"]: map_path(item["value"])
            for item in job._get_container_property("environment", [])
        }
        environment["PATH"] = os.environ["PATH"]
        if bwrap is not None:
            command = [bwrap, *self._container_view(job), "--", *command]
        result = subprocess.run(command, env=environment, capture_output=True, check=False)
        self.job_outputs.append(result)
        job.exit_code = result.returncode
        if result.returncode != 0:
            job.job_stopped_reason = "Essential container in task exited"
        # As Batch reports it: each attempt's container with its exit code.
        assert job.latest_attempt is not None
        job.latest_attempt["container"]["exitCode"] = result.returncode
        job._mark_stopped(success=result.returncode == 0)

    def _hold(self, job: Job, guard: float = 600.0) -> None:
        """Run until terminated (TerminateJob sets ``stop`` and the reason), as a job that
        outlives its execution would; the guard only keeps a broken test from hanging."""
        job.status = "RUNNING"
        self.job_holding.set()
        ends = time.monotonic() + guard
        while not job.stop and time.monotonic() < ends:
            time.sleep(0.02)
        if not job.stop:
            job.job_stopped_reason = "harness: never terminated"
        job._mark_stopped(success=False)
