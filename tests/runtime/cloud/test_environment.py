"""Finding a deployed environment by its stack's outputs (moto CloudFormation)."""

from __future__ import annotations

import pytest

from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import EnvironmentNotFoundError
from runtime.cloud.stack import DeployedEnvironment, locate_environment
from tests.runtime.cloud.conftest import JOB_LOG_GROUP, PREPARE_FUNCTION, deploy_stack


def test_outputs_become_the_environment(environment: DeployedEnvironment) -> None:
    assert environment.name == "dev"
    assert environment.stack_name == "demand-dev"
    assert environment.state_machine_arn.endswith(":stateMachine:demand-dev")
    assert environment.state_machine_name == "demand-dev"
    assert environment.data_bucket == "demand-dev-data"
    assert environment.file_system_id == "fs-0123456789abcdef0"
    assert environment.job_queue == "demand-dev-default"
    assert environment.job_log_group == JOB_LOG_GROUP
    assert environment.prepare_function == PREPARE_FUNCTION


def test_execution_arn_is_derived_from_the_state_machine(
    environment: DeployedEnvironment,
) -> None:
    arn = environment.execution_arn("run-7")
    assert arn == environment.state_machine_arn.replace(":stateMachine:", ":execution:") + ":run-7"


def test_an_environment_that_is_not_deployed(clients: AwsClients) -> None:
    with pytest.raises(EnvironmentNotFoundError) as info:
        locate_environment("staging", clients.cloudformation)
    assert str(info.value) == (
        "environment 'staging' is not deployed in us-west-2 (no stack demand-staging); "
        "deploy it with ./dev cdk deploy -c env=staging, or pick the region with --region"
    )


def test_a_stack_without_the_outputs(clients: AwsClients) -> None:
    deploy_stack(clients, "old", {"StateMachineArn": "arn:aws:states:::stateMachine:x"})
    with pytest.raises(EnvironmentNotFoundError, match=r"lacks the outputs DataBucketName, "):
        locate_environment("old", clients.cloudformation)


def test_a_stack_from_before_the_prepare_output_still_serves(clients: AwsClients) -> None:
    outputs = {
        "StateMachineArn": "arn:aws:states:us-west-2:123456789012:stateMachine:demand-old",
        "DataBucketName": "demand-old-data",
        "FileSystemId": "fs-0123456789abcdef0",
        "JobQueueName": "demand-old-default",
        "JobLogGroupName": JOB_LOG_GROUP,
    }
    deploy_stack(clients, "old", outputs)
    environment = locate_environment("old", clients.cloudformation)
    assert environment.job_queue == "demand-old-default"
    assert environment.prepare_function is None  # only demand plan --env needs it
