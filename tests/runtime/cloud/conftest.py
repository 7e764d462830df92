"""A deployed environment in moto: the stack's outputs, its state machine and its Prepare
function (whose environment is the deployment's planning settings)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from moto import mock_aws

from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import DeployedEnvironment, locate_environment

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

REGION = "us-west-2"
ROLE_ARN = "arn:aws:iam::123456789012:role/demand-dev-state-machine"
JOB_LOG_GROUP = "/aws/batch/job"
FILE_SYSTEM_ID = "fs-0123456789abcdef0"
DATA_BUCKET = "demand-dev-data"
PREPARE_FUNCTION = "demand-dev-StepsPrepare575F9C70-AbCdEf012345"
# What dev's Prepare function is told, as infra/constructs/functions.py sets it for cdk.json's
# dev settings (tests/runtime/cloud/test_plan_env.py also plans with the synthesized template's
# own): the default queue is Spot (max 128 vCPUs) then on-demand (64); no GPU queue.
REUSE_TABLE = "demand-dev-reuse-records"
PREPARE_VARIABLES = {
    "DEMAND_ENVIRONMENT": "dev",
    "DEMAND_FILE_SYSTEM_ID": FILE_SYSTEM_ID,
    "DEMAND_SHARED_ACCESS_POINT_ID": "fsap-0123456789abcdef0",
    "DEMAND_USE_TMP_VOLUME": "true",
    "DEMAND_ALLOWED_BUCKETS": DATA_BUCKET,
    "DEMAND_EFS_MOUNT_PATH": "/mnt/efs",
    "DEMAND_MIRROR_OUTPUTS": "false",
    "DEMAND_REQUEST_BUCKET": DATA_BUCKET,
    "DEMAND_DEFAULT_JOB_QUEUE": "demand-dev-default",
    "DEMAND_GPU_JOB_QUEUE": "",
    "DEMAND_DEFAULT_JOB_ROLE_ARN": "arn:aws:iam::123456789012:role/demand/dev/jobs/default",
    "DEMAND_QUEUE_LIMITS": json.dumps(
        {
            "demand-dev-default": {"gpu": 0, "memory": None, "vcpus": 128},
            "demand-dev-on-demand": {"gpu": 0, "memory": None, "vcpus": 64},
        },
        sort_keys=True,
        separators=(",", ":"),
    ),
    # The dev environment's planning settings (cdk.json sets none: the defaults).
    "DEMAND_ISOLATE_INPUTS": "false",
    "DEMAND_CLEANUP_INPUTS": "true",
    "DEMAND_CLEANUP_WORKING_DIR": "true",
    "DEMAND_KEEP_WORKING_DIR_ON_FAILURE": "false",
    "DEMAND_ENV_FILE_MODE": "IF_REQUIRED",
    "DEMAND_ENV_SIZE_LIMIT": "8192",
    "DEMAND_PRIVILEGED": "false",
    "DEMAND_RETRY_ATTEMPTS": "3",
    "DEMAND_TIMEOUT_SECONDS": "43200",
    "DEMAND_JOB_TAGS": "{}",
    "DEMAND_REUSE": "true",
    "DEMAND_REUSE_TTL_DAYS": "30",
    "DEMAND_REUSE_TABLE": REUSE_TABLE,
    "DEMAND_MAX_TIMEOUT_SECONDS": "172800",
    "DEMAND_MAX_RETRY_ATTEMPTS": "3",
    "DEMAND_REQUESTS_MAY_ISOLATE_INPUTS": "true",
    "DEMAND_REQUESTS_MAY_KEEP_WORKING_DIR": "true",
    "POWERTOOLS_SERVICE_NAME": "demand",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
}


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
        lambda_=clients.lambda_,
    )


def deploy_stack(clients: AwsClients, environment: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Data": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    clients.cloudformation.create_stack(
        StackName=f"demand-{environment}", TemplateBody=json.dumps(template)
    )


def deploy_prepare_function(clients: AwsClients, variables: dict[str, str]) -> str:
    """A function named as a deployed Prepare is, with these variables; its name."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName="demand-dev-prepare",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("runtime/handlers/prepare.py", "def handler(event, context): ...\n")
    clients.lambda_.create_function(
        FunctionName=PREPARE_FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="runtime.handlers.prepare.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": variables},
    )
    return PREPARE_FUNCTION


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
            "DataBucketName": DATA_BUCKET,
            "FileSystemId": FILE_SYSTEM_ID,
            "JobQueueName": "demand-dev-default",
            "JobLogGroupName": JOB_LOG_GROUP,
            "OnDemandJobQueueName": "demand-dev-on-demand",
            "PrepareFunctionName": deploy_prepare_function(clients, PREPARE_VARIABLES),
        },
    )
    return locate_environment("dev", clients.cloudformation)
