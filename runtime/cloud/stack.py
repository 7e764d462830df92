"""Finding a deployed environment through its CloudFormation stack's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import ClientError

from runtime import contract
from runtime.cloud.errors import CloudError, EnvironmentNotFoundError

Number = TypeVar("Number", int, float)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_lambda import LambdaClient

# The outputs of infra/stacks.py that the CLI reads, by output key.
REQUIRED_OUTPUTS = (
    contract.OUTPUT_STATE_MACHINE_ARN,
    contract.OUTPUT_DATA_BUCKET_NAME,
    contract.OUTPUT_FILE_SYSTEM_ID,
    contract.OUTPUT_JOB_QUEUE_NAME,
    contract.OUTPUT_JOB_LOG_GROUP_NAME,
)
# Read when present: planning with the environment's own settings (demand plan --env) needs it,
# the other commands do not, so a stack deployed before it was an output still serves them.
PLANNING_OUTPUTS = (contract.OUTPUT_PREPARE_FUNCTION_NAME,)


def stack_name(environment: str) -> str:
    return contract.stack_name(environment)


@dataclass(frozen=True)
class DeployedEnvironment:
    name: str
    stack_name: str
    state_machine_arn: str
    data_bucket: str
    file_system_id: str
    job_queue: str
    job_log_group: str
    prepare_function: str | None = None
    cache_prune_function: str | None = None  # `demand cache --env`; older stacks have none
    # Run sets (`demand submit --table`); older stacks have none.
    run_set_state_machine_arn: str | None = None
    run_set_max_concurrency: int | None = None
    run_set_tolerated_failure_percentage: float | None = None

    @property
    def state_machine_name(self) -> str:
        return self.state_machine_arn.rsplit(":", 1)[1]

    def execution_arn(self, execution_id: str) -> str:
        """``arn:…:stateMachine:NAME`` → ``arn:…:execution:NAME:EXECUTION_ID``."""
        prefix, _, name = self.state_machine_arn.rpartition(":stateMachine:")
        if not prefix:
            raise CloudError(f"not a state machine ARN: {self.state_machine_arn}")
        return f"{prefix}:execution:{name}:{execution_id}"


def locate_environment(name: str, cloudformation: CloudFormationClient) -> DeployedEnvironment:
    """The environment deployed as stack ``demand-<name>`` in the client's account and region."""
    stack = stack_name(name)
    region = cloudformation.meta.region_name
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            raise EnvironmentNotFoundError(
                f"environment {name!r} is not deployed in {region} (no stack {stack}); "
                f"deploy it with ./dev cdk deploy -c env={name}, or pick the region with --region"
            ) from None
        raise
    outputs = {
        output["OutputKey"]: output["OutputValue"]
        for output in stacks[0].get("Outputs", [])
        if "OutputKey" in output and "OutputValue" in output
    }
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        status = stacks[0].get("StackStatus", "unknown status")
        raise EnvironmentNotFoundError(
            f"stack {stack} ({status}) lacks the outputs {', '.join(missing)}; "
            "redeploy it with this version of the project"
        )
    return DeployedEnvironment(
        name=name,
        stack_name=stack,
        state_machine_arn=outputs[contract.OUTPUT_STATE_MACHINE_ARN],
        data_bucket=outputs[contract.OUTPUT_DATA_BUCKET_NAME],
        file_system_id=outputs[contract.OUTPUT_FILE_SYSTEM_ID],
        job_queue=outputs[contract.OUTPUT_JOB_QUEUE_NAME],
        job_log_group=outputs[contract.OUTPUT_JOB_LOG_GROUP_NAME],
        prepare_function=outputs.get(contract.OUTPUT_PREPARE_FUNCTION_NAME),
        cache_prune_function=outputs.get(contract.OUTPUT_CACHE_PRUNE_FUNCTION_NAME),
        run_set_state_machine_arn=outputs.get(contract.OUTPUT_RUN_SET_STATE_MACHINE_ARN),
        run_set_max_concurrency=_number(outputs, contract.OUTPUT_RUN_SET_MAX_CONCURRENCY, int),
        run_set_tolerated_failure_percentage=_number(
            outputs, contract.OUTPUT_RUN_SET_TOLERATED_FAILURE_PERCENTAGE, float
        ),
    )


def _number(outputs: dict[str, str], key: str, kind: type[Number]) -> Number | None:
    try:
        return kind(outputs[key]) if key in outputs else None
    except ValueError:  # not this project's output: as if it had none
        return None


def deployment_variables(
    environment: DeployedEnvironment, functions: LambdaClient
) -> dict[str, str]:
    """The environment variables of the environment's Prepare function: what the stack tells its
    steps (``runtime.contract``'s ``ENV_*``), as Prepare reads them when it plans."""
    name = environment.prepare_function
    if name is None:
        raise EnvironmentNotFoundError(
            f"stack {environment.stack_name} lacks the output "
            f"{contract.OUTPUT_PREPARE_FUNCTION_NAME}; redeploy it with this version of the project"
        )
    try:
        configuration = functions.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise EnvironmentNotFoundError(
                f"the Prepare function {name} of stack {environment.stack_name} does not exist; "
                "redeploy the stack"
            ) from None
        raise
    return dict(configuration.get("Environment", {}).get("Variables", {}))
