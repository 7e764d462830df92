"""Submitting, following, cancelling and listing executions (moto Step Functions and Batch)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import CloudError, ExecutionExistsError, ExecutionNotFoundError
from runtime.cloud.executions import (
    cancel_execution,
    execution_status,
    list_executions,
    submit_execution,
)
from runtime.cloud.stack import DeployedEnvironment
from tests.runtime.cloud import histories
from tests.runtime.cloud.conftest import with_history
from tests.runtime.specs import spec_dict


def _submit(environment: DeployedEnvironment, clients: AwsClients, execution_id: str) -> str:
    spec = spec_dict() | {"execution_id": execution_id}
    return submit_execution(environment, spec, clients.stepfunctions)


def test_submit_names_the_execution_after_its_id(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    spec = spec_dict()
    arn = submit_execution(environment, spec, clients.stepfunctions)
    assert arn == environment.execution_arn("exec-1")
    described = clients.stepfunctions.describe_execution(executionArn=arn)
    assert described["name"] == "exec-1"
    assert described["status"] == "RUNNING"
    assert json.loads(described["input"]) == {"spec": spec}


def test_a_resubmission_of_a_running_execution_is_refused(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    # Step Functions would accept an identical request as idempotent and start nothing new;
    # the CLI says so rather than print an ARN as if it had started something.
    spec = spec_dict()
    submit_execution(environment, spec, clients.stepfunctions)
    with pytest.raises(ExecutionExistsError) as info:
        submit_execution(environment, spec, clients.stepfunctions)
    message = str(info.value)
    assert message.startswith("execution 'exec-1' already exists in environment 'dev' (RUNNING")
    assert message.endswith("give the spec a new execution_id to run it again")


def test_a_finished_execution_id_is_not_reused(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    arn = _submit(environment, clients, "once")
    clients.stepfunctions.stop_execution(executionArn=arn)
    with pytest.raises(ExecutionExistsError, match=r"\(ABORTED, started "):
        _submit(environment, clients, "once")


def test_a_spec_needs_an_execution_id(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    spec = {key: value for key, value in spec_dict().items() if key != "execution_id"}
    with pytest.raises(CloudError, match="no execution_id"):
        submit_execution(environment, spec, clients.stepfunctions)


def test_status_of_a_running_execution(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    _submit(environment, clients, "exec-1")
    recorded = with_history(clients, histories.running_job("job-77").newest_first())
    status = execution_status(environment, "exec-1", recorded.stepfunctions)
    assert status.state == "RUNNING"
    assert status.current_step == "Run job"
    assert status.batch_job_id == "job-77"
    assert status.failed_step is None
    assert status.error is None
    assert status.stopped is None


def test_status_of_a_failed_execution(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    _submit(environment, clients, "exec-1")
    recorded = with_history(
        clients,
        histories.failed_job().newest_first(),
        status="FAILED",
        error="States.TaskFailed",
        cause="Essential container in task exited",
    )
    status = execution_status(environment, "exec-1", recorded.stepfunctions)
    assert status.state == "FAILED"
    assert status.current_step == "Fail"
    assert status.failed_step == "Run job"
    assert status.error == "States.TaskFailed"
    assert status.cause == "Essential container in task exited"


def test_status_of_an_unknown_execution(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    with pytest.raises(ExecutionNotFoundError, match="no execution 'nope' in environment 'dev'"):
        execution_status(environment, "nope", clients.stepfunctions)


@pytest.fixture
def batch_job(clients: AwsClients) -> str:
    """A job in moto Batch (which runs no containers here)."""
    role = boto3.client("iam").create_role(
        RoleName="batch-service", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    environment = clients.batch.create_compute_environment(
        computeEnvironmentName="unmanaged", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    queue = clients.batch.create_job_queue(
        jobQueueName="demand-dev-default",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
        ],
    )
    definition = clients.batch.register_job_definition(
        jobDefinitionName="demand-dev-abc",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 128},
    )
    job = clients.batch.submit_job(
        jobName="demand-dev_exec-1",
        jobQueue=queue["jobQueueArn"],
        jobDefinition=definition["jobDefinitionArn"],
    )
    return job["jobId"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cancel_stops_the_execution_and_terminates_its_job(
    environment: DeployedEnvironment, clients: AwsClients, batch_job: str, monkeypatch: Any
) -> None:
    terminated: list[dict[str, Any]] = []
    terminate = clients.batch.terminate_job

    def recording_terminate(**request: Any) -> Any:
        terminated.append(request)
        return terminate(**request)

    monkeypatch.setattr(clients.batch, "terminate_job", recording_terminate)
    arn = _submit(environment, clients, "exec-1")
    recorded = with_history(clients, histories.running_job(batch_job).newest_first())
    job_id = cancel_execution(environment, "exec-1", recorded.stepfunctions, clients.batch)
    assert job_id == batch_job
    assert clients.stepfunctions.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert terminated == [
        {"jobId": batch_job, "reason": "demand cancel: execution exec-1 was stopped"}
    ]


def test_cancel_before_the_job_only_stops_the_execution(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    arn = _submit(environment, clients, "exec-1")
    recorded = with_history(clients, histories.preparing().newest_first())
    assert cancel_execution(environment, "exec-1", recorded.stepfunctions, clients.batch) is None
    assert clients.stepfunctions.describe_execution(executionArn=arn)["status"] == "ABORTED"


def test_cancel_refuses_a_finished_execution(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    arn = _submit(environment, clients, "exec-1")
    clients.stepfunctions.stop_execution(executionArn=arn)
    with pytest.raises(CloudError, match="is ABORTED, not running: nothing to cancel"):
        cancel_execution(environment, "exec-1", clients.stepfunctions, clients.batch)


def test_list_newest_first_with_filter_and_limit(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    for execution_id in ("first", "second", "third"):
        _submit(environment, clients, execution_id)
    clients.stepfunctions.stop_execution(executionArn=environment.execution_arn("second"))
    listed = list_executions(environment, clients.stepfunctions)
    assert sorted(item.execution_id for item in listed) == ["first", "second", "third"]
    assert listed == sorted(listed, key=lambda item: item.started, reverse=True)
    aborted = list_executions(environment, clients.stepfunctions, state="ABORTED")
    assert [item.execution_id for item in aborted] == ["second"]
    assert len(list_executions(environment, clients.stepfunctions, limit=2)) == 2
