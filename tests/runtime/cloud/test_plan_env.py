"""``demand plan SPEC --env NAME``: planning with a deployed environment's own settings, read
from its Prepare function (moto CloudFormation and Lambda)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from typer.testing import CliRunner, Result

from runtime.cli.app import app
from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import DeployedEnvironment
from tests.runtime.cloud.conftest import (
    DATA_BUCKET,
    FILE_SYSTEM_ID,
    PREPARE_FUNCTION,
    PREPARE_VARIABLES,
    REUSE_TABLE,
    deploy_stack,
)
from tests.runtime.specs import spec_dict
from tests.synthesis import Synthesis, resources

runner = CliRunner()

PREPARE_HANDLER = "runtime.handlers.prepare.handler"
# What the template's references become in the fake deployment, by resource type.
STAND_INS = {
    "AWS::EFS::FileSystem": FILE_SYSTEM_ID,
    "AWS::EFS::AccessPoint": PREPARE_VARIABLES["DEMAND_SHARED_ACCESS_POINT_ID"],
    "AWS::S3::Bucket": DATA_BUCKET,
    "AWS::DynamoDB::GlobalTable": REUSE_TABLE,
    "AWS::IAM::Role": PREPARE_VARIABLES["DEMAND_DEFAULT_JOB_ROLE_ARN"],
}


def _spec(tmp_path: Path, name: str = "spec.yaml", **resources: int) -> Path:
    """A request for the environment's default queue, staging from and to its data bucket."""
    data = spec_dict(
        params={"input": f"s3://{DATA_BUCKET}/in.txt", "output": "out.txt", "level": 3},
        output_s3_prefix=f"s3://{DATA_BUCKET}/results/",
    ) | {"execution_platform": {}, "resource_requirements": {"vcpus": 2, **resources}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _plan(*arguments: str) -> Result:
    return runner.invoke(app, ["plan", *arguments])


def _one_error_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


# --- the deployed settings -----------------------------------------------------------------


def test_a_request_too_large_for_the_default_queue_is_refused(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    result = _plan(str(_spec(tmp_path, "big.yaml", vcpus=129)), "--env", "dev")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: resource_requirements.vcpus: 129 exceeds the largest instance of queue "
        "demand-dev-default (128 vCPUs)"
    )


def test_every_refusal_is_a_line_of_its_own(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    # A bucket dev does not stage from, and a GPU on a queue without any.
    data = spec_dict() | {
        "execution_platform": {"aws_batch": {"job_queue_name": "demand-dev-on-demand"}},
        "resource_requirements": {"vcpus": 65, "memory": 4096, "gpu": 1},
    }
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    result = _plan(str(spec), "--env", "dev")
    assert result.exit_code == 125
    assert result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        "error: execution_parameters.params.input: bucket 'bucket' is not one this environment "
        f"stages from or to (allowed: {DATA_BUCKET})",
        "error: execution_parameters.params.output: bucket 'bucket' is not one this "
        f"environment stages from or to (allowed: {DATA_BUCKET})",
        "error: resource_requirements.gpu: 1 exceeds the largest instance of queue "
        "demand-dev-on-demand (0 GPUs)",
        "error: resource_requirements.vcpus: 65 exceeds the largest instance of queue "
        "demand-dev-on-demand (64 vCPUs)",
    ]


def test_a_fitting_request_is_planned_as_the_environment_plans_it(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    result = _plan(str(_spec(tmp_path, vcpus=128)), "--env", "dev", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    job = plan["job"]
    assert job["job_queue"] == "demand-dev-default"
    assert job["job_name"] == "demand-dev_exec-1"
    assert job["job_definition_name"].startswith("demand-dev_")
    assert job["job_role"] == PREPARE_VARIABLES["DEMAND_DEFAULT_JOB_ROLE_ARN"]
    assert job["tags"]["demand:environment"] == "dev"
    assert plan["working_dir"]["efs_uri"] == f"efs://{FILE_SYSTEM_ID}:/scratch/exec-1"
    # The tmp volume and the shared cache's access point are the deployment's.
    assert plan["tmp_dir"]["container_path"] == "/opt/efs/tmp/exec-1"
    shared = next(volume for volume in job["volumes"] if volume["name"] == "shared")
    assert shared["access_point_id"] == PREPARE_VARIABLES["DEMAND_SHARED_ACCESS_POINT_ID"]


def test_the_readable_plan_names_the_environments_queue(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    result = _plan(str(_spec(tmp_path)), "--env", "dev")
    assert result.exit_code == 0, result.output
    assert "demand-dev-default" in result.stdout
    assert "demand-dev_exec-1" in result.stdout


def test_an_invalid_request_is_refused_before_aws_is_asked(
    clients: AwsClients, tmp_path: Path
) -> None:
    # No stack at all: the request's own problems come first.
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(command=["run", "${ghost}"])))
    result = _plan(str(spec), "--env", "dev")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: execution_parameters.command[1]: ${ghost} names no parameter"
    )


# --- finding the environment ---------------------------------------------------------------


def test_an_environment_that_is_not_deployed_is_one_line(
    clients: AwsClients, tmp_path: Path
) -> None:
    result = _plan(str(_spec(tmp_path)), "--env", "staging")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: environment 'staging' is not deployed in us-west-2 (no stack demand-staging); "
        "deploy it with ./dev cdk deploy -c env=staging, or pick the region with --region"
    )


def test_the_region_is_where_the_environment_is_looked_for(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    result = _plan(str(_spec(tmp_path)), "--env", "dev", "--region", "eu-west-1")
    assert result.exit_code == 125
    assert "is not deployed in eu-west-1" in _one_error_line(result)


def test_a_stack_without_the_prepare_output_is_one_line(
    clients: AwsClients, tmp_path: Path
) -> None:
    deploy_stack(
        clients,
        "old",
        {
            "StateMachineArn": "arn:aws:states:us-west-2:123456789012:stateMachine:demand-old",
            "DataBucketName": "demand-old-data",
            "FileSystemId": FILE_SYSTEM_ID,
            "JobQueueName": "demand-old-default",
            "JobLogGroupName": "/aws/batch/job",
        },
    )
    result = _plan(str(_spec(tmp_path)), "--env", "old")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: stack demand-old lacks the output PrepareFunctionName; "
        "redeploy it with this version of the project"
    )


def test_a_prepare_function_that_is_gone_is_one_line(
    environment: DeployedEnvironment, clients: AwsClients, tmp_path: Path
) -> None:
    clients.lambda_.delete_function(FunctionName=PREPARE_FUNCTION)
    result = _plan(str(_spec(tmp_path)), "--env", "dev")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        f"error: the Prepare function {PREPARE_FUNCTION} of stack demand-dev does not exist; "
        "redeploy the stack"
    )


def test_malformed_deployed_settings_name_the_function_and_the_variable(
    environment: DeployedEnvironment, clients: AwsClients, tmp_path: Path
) -> None:
    variables = PREPARE_VARIABLES | {"DEMAND_QUEUE_LIMITS": '{"demand-dev-default": 128}'}
    clients.lambda_.update_function_configuration(
        FunctionName=PREPARE_FUNCTION, Environment={"Variables": variables}
    )
    result = _plan(str(_spec(tmp_path)), "--env", "dev")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        f"error: environment 'dev' (function {PREPARE_FUNCTION}): "
        "DEMAND_QUEUE_LIMITS.demand-dev-default: "
        "Input should be a valid dictionary or instance of QueueLimits"
    )


class _NoLambdaAccess:
    def get_function_configuration(self, **request: Any) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
            "GetFunctionConfiguration",
        )


def test_no_right_to_read_the_function_is_one_line(
    environment: DeployedEnvironment,
    clients: AwsClients,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    denied = AwsClients(
        cloudformation=clients.cloudformation,
        stepfunctions=clients.stepfunctions,
        batch=clients.batch,
        logs=clients.logs,
        lambda_=_NoLambdaAccess(),  # type: ignore[arg-type]
    )
    monkeypatch.setattr(AwsClients, "create", staticmethod(lambda region=None: denied))
    result = _plan(str(_spec(tmp_path)), "--env", "dev")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: AWS refused GetFunctionConfiguration: AccessDeniedException: not authorized"
    )


@pytest.mark.parametrize(
    "options",
    [
        ["--config", "config.yaml"],
        ["--file-system", "fs-1"],
        ["--config", "config.yaml", "--file-system", "fs-1"],
    ],
)
def test_env_takes_no_local_settings(tmp_path: Path, options: list[str]) -> None:
    # Refused before anything is read: no stack, no config file, no AWS.
    result = _plan(str(_spec(tmp_path)), "--env", "dev", *options)
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: --env plans with the environment's own settings: drop --config and --file-system"
    )


def test_region_without_env_is_refused(tmp_path: Path) -> None:
    result = _plan(str(_spec(tmp_path)), "--region", "eu-west-1")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: --profile, --region and --endpoint-url find --env's environment: pass --env too"
    )


# --- with the synthesized template's own variables ------------------------------------------


def _resolved(value: Any, template: dict[str, Any]) -> str:
    """A CloudFormation value of the template as the fake deployment has it."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return STAND_INS[template["Resources"][value["Ref"]]["Type"]]
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        resource_type = template["Resources"][logical_id]["Type"]
        assert (resource_type, attribute) == ("AWS::IAM::Role", "Arn"), value
        return STAND_INS[resource_type]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolved(part, template) for part in parts)
    raise AssertionError(f"unexpected CloudFormation value {value!r}")


def _template_variables(synthesis: Synthesis, environment: str) -> dict[str, str]:
    template = synthesis.templates[environment]
    (prepare,) = (
        function["Properties"]
        for function in resources(template, "AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") == PREPARE_HANDLER
    )
    return {
        name: _resolved(value, template)
        for name, value in prepare["Environment"]["Variables"].items()
    }


def test_the_fake_deployment_is_the_dev_template(synthesis: Synthesis) -> None:
    """The fixtures' Prepare variables are those the dev stack sets (references aside)."""
    assert _template_variables(synthesis, "dev") == PREPARE_VARIABLES


def test_plan_with_the_dev_templates_own_settings(
    synthesis: Synthesis, environment: DeployedEnvironment, clients: AwsClients, tmp_path: Path
) -> None:
    clients.lambda_.update_function_configuration(
        FunctionName=PREPARE_FUNCTION,
        Environment={"Variables": _template_variables(synthesis, "dev")},
    )
    big = _plan(str(_spec(tmp_path, "big.yaml", vcpus=200)), "--env", "dev")
    assert big.exit_code == 125
    assert _one_error_line(big) == (
        "error: resource_requirements.vcpus: 200 exceeds the largest instance of queue "
        "demand-dev-default (128 vCPUs)"
    )
    fitting = _plan(str(_spec(tmp_path, vcpus=64)), "--env", "dev", "--json")
    assert fitting.exit_code == 0, fitting.output
    job = json.loads(fitting.stdout)["job"]
    assert (job["job_queue"], job["job_name"]) == ("demand-dev-default", "demand-dev_exec-1")
    assert job["job_definition_name"].startswith("demand-dev_")


def test_execution_options_beyond_the_environments_limits_are_refused_as_prepare_would(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    data = yaml.safe_load(_spec(tmp_path).read_text()) | {
        "execution_options": {"timeout_seconds": 172801, "retry_attempts": 4}
    }
    data["execution_parameters"]["params"]["input"] = "file:///etc/passwd"
    spec = tmp_path / "options.yaml"
    spec.write_text(yaml.safe_dump(data))
    result = _plan(str(spec), "--env", "dev")
    assert result.exit_code == 125
    assert result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        "error: execution_options.retry_attempts: 4 exceeds this environment's limit of 3 attempts",
        "error: execution_options.timeout_seconds: 172801 exceeds this environment's limit of "
        "172800 seconds",
        "error: execution_parameters.params.input: file:// locations are not allowed here "
        "(allowed: s3://)",
    ]


def test_execution_options_within_the_limits_reach_the_plan(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    data = yaml.safe_load(_spec(tmp_path).read_text()) | {
        "execution_options": {"timeout_seconds": 600, "retry_attempts": 1, "isolate_inputs": True}
    }
    spec = tmp_path / "options.yaml"
    spec.write_text(yaml.safe_dump(data))
    result = _plan(str(spec), "--env", "dev", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["job"]["timeout_seconds"] == 600
    assert plan["job"]["retry_attempts"] == 1
    assert [i["shared"] for i in plan["inputs"]] == [False]
    # Without options: the environment's own default timeout, never none.
    result = _plan(str(_spec(tmp_path)), "--env", "dev", "--json")
    assert json.loads(result.stdout)["job"]["timeout_seconds"] == 43200
