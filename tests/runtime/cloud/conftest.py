"""A deployed environment in moto: the stack's outputs and its state machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import pytest
from moto import mock_aws

from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import DeployedEnvironment, locate_environment

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

REGION = "us-west-2"
ROLE_ARN = "arn:aws:iam::123456789012:role/demand-dev-state-machine"
JOB_LOG_GROUP = "/aws/batch/job"


class RecordedHistory:
    """moto's Step Functions client, but with a recorded history and, if given, a status.

    moto does not run the state machine: its history is a fixed stub and its executions stay
    RUNNING until stopped.
    """

    def __init__(self, client: SFNClient, events: list[dict[str, Any]], **described: Any) -> None:
        self._client = client
        self._events = events
        self._described = described

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_execution_history(self, **request: Any) -> dict[str, Any]:
        assert request["reverseOrder"] is True
        return {"events": self._events}

    def describe_execution(self, **request: Any) -> dict[str, Any]:
        return {**self._client.describe_execution(**request), **self._described}


def with_history(clients: AwsClients, events: list[dict[str, Any]], **described: Any) -> AwsClients:
    recorded = cast("SFNClient", RecordedHistory(clients.stepfunctions, events, **described))
    return AwsClients(
        cloudformation=clients.cloudformation,
        stepfunctions=recorded,
        batch=clients.batch,
        logs=clients.logs,
    )


def deploy_stack(clients: AwsClients, environment: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Data": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    clients.cloudformation.create_stack(
        StackName=f"demand-{environment}", TemplateBody=json.dumps(template)
    )


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield AwsClients.create(REGION)


@pytest.fixture
def environment(clients: AwsClients) -> DeployedEnvironment:
    machine = clients.stepfunctions.create_state_machine(
        name="demand-dev",
        roleArn=ROLE_ARN,
        definition=json.dumps(
            {"StartAt": "Prepare", "States": {"Prepare": {"Type": "Pass", "End": True}}}
        ),
    )
    deploy_stack(
        clients,
        "dev",
        {
            "StateMachineArn": machine["stateMachineArn"],
            "DataBucketName": "demand-dev-data",
            "FileSystemId": "fs-0123456789abcdef0",
            "JobQueueName": "demand-dev-default",
            "JobLogGroupName": JOB_LOG_GROUP,
            "OnDemandJobQueueName": "demand-dev-on-demand",
        },
    )
    return locate_environment("dev", clients.cloudformation)
