"""Per-environment settings, read from the ``environments`` map in cdk.json's context.

Every setting is validated here, before any construct is built, so that a typo or an impossible
value is reported as one line naming the environment and the setting rather than as a
CloudFormation failure halfway through a deployment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from runtime import contract

ENVIRONMENTS_CONTEXT_KEY = "environments"
SELECTED_ENVIRONMENT_CONTEXT_KEY = "env"

EnvironmentName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,19}$")]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
AvailabilityZone = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")]
VpcId = Annotated[str, StringConstraints(pattern=r"^vpc-[0-9a-f]{8,17}$")]
SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")]
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
# An instance type ("m6i.large"), a family ("m6i") or "optimal", as AWS Batch accepts them.
InstanceType = Annotated[
    str, StringConstraints(pattern=r"^(optimal|[a-z][a-z0-9-]*[0-9][a-z0-9-]*(\.[a-z0-9]+)?)$")
]
IamRoleArn = Annotated[
    str,
    StringConstraints(
        pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$", max_length=2048
    ),
]
KmsKeyArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$")
]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(max_length=256)]

# The interface endpoints a new VPC may get; each costs per hour per availability zone.
InterfaceEndpoint = Literal[
    "batch",
    "ecr.api",
    "ecr.dkr",
    "ecs",
    "ecs-agent",
    "ecs-telemetry",
    "elasticfilesystem",
    "logs",
    "states",
    "sts",
    "xray",
]
LogRetentionDays = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653
]
TransitionDays = Literal[1, 7, 14, 30, 60, 90, 180, 270, 365]
GPU_FAMILY = re.compile(r"^(g|p)\d")
# A Standard state machine's longest execution: one year.
MAX_EXECUTION_SECONDS = 365 * 24 * 3600


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NetworkSettings(_Settings):
    """A VPC made for the environment, or an existing one (``vpc_id`` and its private subnets)."""

    vpc_id: VpcId | None = None
    availability_zones: list[AvailabilityZone] | None = None
    private_subnet_ids: list[SubnetId] | None = None
    cidr: str = Field(default="10.80.0.0/16", pattern=r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$")
    max_azs: int = Field(default=2, ge=2, le=6)
    nat_gateways: int = Field(default=1, ge=1, le=6)
    interface_endpoints: list[InterfaceEndpoint] = Field(default_factory=list)

    @property
    def creates_vpc(self) -> bool:
        return self.vpc_id is None

    @model_validator(mode="after")
    def _existing_vpc_is_complete(self) -> Self:
        if self.vpc_id is None:
            if self.private_subnet_ids is not None:
                raise ValueError("private_subnet_ids is only for an existing VPC (set vpc_id)")
            if self.availability_zones is not None and len(self.availability_zones) < 2:
                raise ValueError("a new VPC needs at least 2 availability_zones")
            return self
        if not self.private_subnet_ids or not self.availability_zones:
            raise ValueError(
                "an existing VPC (vpc_id) needs private_subnet_ids and availability_zones, "
                "one subnet per zone, so that synthesis needs no AWS lookup"
            )
        if len(self.private_subnet_ids) != len(self.availability_zones):
            raise ValueError("private_subnet_ids and availability_zones must pair one to one")
        if self.interface_endpoints:
            raise ValueError("interface_endpoints are only created in a new VPC")
        return self


class ComputeEnvironmentSettings(_Settings):
    """One AWS Batch managed EC2 compute environment."""

    enabled: bool = True
    instance_types: list[InstanceType] = Field(min_length=1)
    max_vcpus: int = Field(ge=1, le=100_000)
    min_vcpus: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _min_below_max(self) -> Self:
        if self.min_vcpus > self.max_vcpus:
            raise ValueError(f"min_vcpus ({self.min_vcpus}) exceeds max_vcpus ({self.max_vcpus})")
        return self


class GpuComputeEnvironmentSettings(ComputeEnvironmentSettings):
    enabled: bool = False
    instance_types: list[InstanceType] = Field(default_factory=lambda: ["g5"], min_length=1)
    max_vcpus: int = Field(default=64, ge=1, le=100_000)
    spot: bool = False

    @model_validator(mode="after")
    def _gpu_families_only(self) -> Self:
        not_gpu = [t for t in self.instance_types if not GPU_FAMILY.match(t)]
        if not_gpu:
            raise ValueError(f"not GPU instance types (g*/p* families): {', '.join(not_gpu)}")
        return self


# Batch's job-state time-limit actions take 10 minutes to 24 hours.
RunnableMinutes = Annotated[int, Field(ge=10, le=1440)]


class RunnableTimeLimits(_Settings):
    """How long a job may stay RUNNABLE for each reason that means it will not start soon
    before its queue cancels it (and its execution fails, saying why), in minutes."""

    # EC2 has no capacity for the instance types the compute environments may launch: it may
    # come back, so this one waits longest.
    insufficient_instance_capacity: RunnableMinutes = 30
    # The job needs more vCPUs than a compute environment's max_vcpus.
    compute_environment_max_resource: RunnableMinutes = 10
    # No instance type of the compute environments meets the job's resource requirements.
    job_resource_requirement: RunnableMinutes = 10
    # The compute environments' instance configuration (AMI, architecture) cannot run the job.
    ec2_instance_configuration_unsupported: RunnableMinutes = 10


class ComputeSettings(_Settings):
    on_demand: ComputeEnvironmentSettings
    spot: ComputeEnvironmentSettings
    gpu: GpuComputeEnvironmentSettings = Field(default_factory=GpuComputeEnvironmentSettings)
    runnable_time_limits: RunnableTimeLimits = Field(default_factory=RunnableTimeLimits)

    @model_validator(mode="after")
    def _on_demand_is_required(self) -> Self:
        if not self.on_demand.enabled:
            raise ValueError("on_demand cannot be disabled: it backs the default job queue")
        return self


class FileSystemSettings(_Settings):
    throughput_mode: Literal["bursting", "elastic", "provisioned"] = "elastic"
    provisioned_throughput_mibps: int | None = Field(default=None, ge=1, le=3414)
    # Files unread for this many days move to Infrequent Access; "never" keeps them in Standard.
    # (Not null: CDK drops null values from context, so null would mean the default.)
    transition_to_ia_days: TransitionDays | Literal["never"] = 30
    backups: bool = False

    @model_validator(mode="after")
    def _provisioned_needs_throughput(self) -> Self:
        provisioned = self.throughput_mode == "provisioned"
        if provisioned != (self.provisioned_throughput_mibps is not None):
            raise ValueError(
                "provisioned_throughput_mibps is required with, and only with, "
                "throughput_mode 'provisioned'"
            )
        return self


class DataBucketSettings(_Settings):
    """The bucket jobs and syncs use by default: made for the environment, or an existing one."""

    name: BucketName | None = None
    versioned: bool = False

    @property
    def creates_bucket(self) -> bool:
        return self.name is None


class NotificationSettings(_Settings):
    """An SNS topic that hears of every execution's end (docs/deploy.md, Notifications)."""

    enabled: bool = True


class CacheSettings(_Settings):
    """How the shared input cache is kept within bounds (docs/deploy.md, The input cache)."""

    # An entry no stage-in has used for longer than this is removed; None: never for its age.
    max_unused_days: int | None = Field(default=30, ge=1, le=3650)
    # Beyond this many GiB in all, the least recently used entries are removed too.
    size_budget_gib: int | None = Field(default=None, ge=1, le=1_000_000)
    # How often the pruning runs.
    prune_every_hours: int = Field(default=24, ge=1, le=24 * 7)


class RunSetSettings(_Settings):
    """Run sets (demand submit --table): how many rows of a set run at once, and how many may
    fail before the set stops starting rows (docs/deploy.md, Run sets)."""

    # The most, and the default, a set runs at once (Distributed Map allows 10,000).
    max_concurrency: int = Field(default=100, ge=1, le=10_000)
    # The most, and the default, percentage of a set's rows that may fail before the set
    # fails and stops its other rows; 100: rows are independent, the set always runs them all.
    tolerated_failure_percentage: float = Field(default=100, ge=0, le=100)


class FunctionSettings(_Settings):
    service_name: str = Field(default="demand", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sync_memory_mb: int = Field(default=2048, ge=512, le=10240)


class PlanningSettings(_Settings):
    """How the environment plans each execution (the steps' ``DEMAND_*`` planning variables).

    The first group is the environment's own choice; a request may override the ones it has a
    field for in ``execution_options`` (isolate_inputs, keep_working_dir_on_failure,
    env_file_mode, timeout_seconds, retry_attempts) within the limits of the second group.
    ``privileged`` is never a request's choice.
    """

    isolate_inputs: bool = False
    cleanup_inputs: bool = True
    cleanup_working_dir: bool = True
    keep_working_dir_on_failure: bool = False
    env_file_mode: Literal["IF_REQUIRED", "ALWAYS", "NEVER"] = "IF_REQUIRED"
    # Bytes of container overrides (command + environment) before variables move to an env file.
    env_size_limit: int = Field(default=8192, ge=1024, le=8192)
    privileged: bool = False
    retry_attempts: int = Field(default=3, ge=1, le=10)
    # Each job attempt's limit (Batch attemptDurationSeconds): no job runs for ever.
    timeout_seconds: int = Field(default=12 * 3600, ge=60)
    job_tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    # What a request may ask for in its execution_options.
    max_timeout_seconds: int = Field(default=48 * 3600, ge=60)
    max_retry_attempts: int = Field(default=3, ge=1, le=10)
    requests_may_isolate_inputs: bool = True
    requests_may_keep_working_dir: bool = True
    # Results reused (docs/reuse.md): a table of records, Prepare checking it before staging;
    # a request may turn it off for itself (execution_options.reuse). Records expire after
    # reuse_ttl_days (the table's TTL).
    reuse: bool = True
    reuse_ttl_days: int = Field(default=30, ge=1, le=3650)
    # The state machine's time limit is the longest job a request may ask for (every attempt
    # at the longest timeout) plus this allowance for queueing, staging and cleanup.
    execution_allowance_hours: int = Field(default=24, ge=1, le=720)

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> Self:
        if self.timeout_seconds > self.max_timeout_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) exceeds max_timeout_seconds "
                f"({self.max_timeout_seconds})"
            )
        if self.retry_attempts > self.max_retry_attempts:
            raise ValueError(
                f"retry_attempts ({self.retry_attempts}) exceeds max_retry_attempts "
                f"({self.max_retry_attempts})"
            )
        reserved = [key for key in self.job_tags if key.lower().startswith(("demand:", "aws:"))]
        if reserved:
            raise ValueError(f"job_tags: demand: and aws: tags are the platform's: {reserved}")
        if self.execution_timeout_seconds > MAX_EXECUTION_SECONDS:
            raise ValueError(
                f"max_timeout_seconds × max_retry_attempts + execution_allowance_hours is "
                f"{self.execution_timeout_seconds} s, over Step Functions' one year"
            )
        return self

    @property
    def execution_timeout_seconds(self) -> int:
        """The state machine's time limit, derived from the longest job a request can ask."""
        return (
            self.max_timeout_seconds * self.max_retry_attempts
            + self.execution_allowance_hours * 3600
        )

    def variables(self) -> dict[str, str]:
        """The steps' planning variables (runtime.deployment.DeploymentSettings reads them)."""
        flag = {True: "true", False: "false"}
        return {
            contract.ENV_ISOLATE_INPUTS: flag[self.isolate_inputs],
            contract.ENV_CLEANUP_INPUTS: flag[self.cleanup_inputs],
            contract.ENV_CLEANUP_WORKING_DIR: flag[self.cleanup_working_dir],
            contract.ENV_KEEP_WORKING_DIR_ON_FAILURE: flag[self.keep_working_dir_on_failure],
            contract.ENV_ENV_FILE_MODE: self.env_file_mode,
            contract.ENV_ENV_SIZE_LIMIT: str(self.env_size_limit),
            contract.ENV_PRIVILEGED: flag[self.privileged],
            contract.ENV_RETRY_ATTEMPTS: str(self.retry_attempts),
            contract.ENV_TIMEOUT_SECONDS: str(self.timeout_seconds),
            contract.ENV_JOB_TAGS: json.dumps(self.job_tags, sort_keys=True),
            contract.ENV_MAX_TIMEOUT_SECONDS: str(self.max_timeout_seconds),
            contract.ENV_MAX_RETRY_ATTEMPTS: str(self.max_retry_attempts),
            contract.ENV_REQUESTS_MAY_ISOLATE_INPUTS: flag[self.requests_may_isolate_inputs],
            contract.ENV_REQUESTS_MAY_KEEP_WORKING_DIR: flag[self.requests_may_keep_working_dir],
            contract.ENV_REUSE: flag[self.reuse],
            contract.ENV_REUSE_TTL_DAYS: str(self.reuse_ttl_days),
        }


class EnvironmentSettings(_Settings):
    """Everything that differs between two deployments of the platform."""

    name: EnvironmentName
    account: AccountId | None = None
    region: Region | None = None
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    compute: ComputeSettings
    file_system: FileSystemSettings = Field(default_factory=FileSystemSettings)
    data_bucket: DataBucketSettings = Field(default_factory=DataBucketSettings)
    # Further buckets the sync step may read inputs from / write outputs to.
    input_buckets: list[BucketName] = Field(default_factory=list)
    output_buckets: list[BucketName] = Field(default_factory=list)
    # Stage-out deletes, at each output's destination, what the job did not produce there (the
    # established system's behaviour). Off by default: an output prefix is often reused or
    # shared, and a deletion cannot be undone (docs/migrating.md).
    mirror_outputs: bool = False
    # Job roles besides the stack's default one that the register step may pass to Batch.
    job_role_arns: list[IamRoleArn] = Field(default_factory=list)
    functions: FunctionSettings = Field(default_factory=FunctionSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    map_concurrency: int = Field(default=10, ge=1, le=1000)
    run_sets: RunSetSettings = Field(default_factory=RunSetSettings)
    planning: PlanningSettings = Field(default_factory=PlanningSettings)
    removal_policy: Literal["retain", "destroy"] = "retain"
    log_retention_days: LogRetentionDays = 30
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    # The state machine's log records carry each execution's input and output (every parameter
    # of every request) only when this is on: for debugging, not by default.
    log_execution_data: bool = False
    # A KMS key for every log group of the stack (it must let CloudWatch Logs use it).
    log_kms_key_arn: KmsKeyArn | None = None

    @property
    def stack_name(self) -> str:
        return contract.stack_name(self.name)


class EnvironmentSettingsError(ValueError):
    """cdk.json's environments are missing, unknown or invalid; the message says which."""


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(settings)"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return problems


def parse_environment(name: str, raw: object) -> EnvironmentSettings:
    """One environment's settings, or an EnvironmentSettingsError listing its every problem."""
    if not isinstance(raw, Mapping):
        raise EnvironmentSettingsError(f"environment {name!r}: settings must be an object")
    try:
        return EnvironmentSettings.model_validate({**raw, "name": name})
    except ValidationError as exc:
        raise EnvironmentSettingsError(
            f"environment {name!r} in cdk.json is invalid: " + "; ".join(_problems(exc))
        ) from None


def load_environments(context: Mapping[str, Any]) -> list[EnvironmentSettings]:
    """The environments to synthesize: the one named by ``-c env=NAME``, else every one listed."""
    listed = context.get(ENVIRONMENTS_CONTEXT_KEY)
    if not isinstance(listed, Mapping) or not listed:
        raise EnvironmentSettingsError(
            f"cdk.json context has no {ENVIRONMENTS_CONTEXT_KEY!r} map of environment settings"
        )
    selected = context.get(SELECTED_ENVIRONMENT_CONTEXT_KEY)
    if selected is None:
        return [parse_environment(name, raw) for name, raw in listed.items()]
    if selected not in listed:
        raise EnvironmentSettingsError(
            f"unknown environment {selected!r} (-c env=...); cdk.json lists: "
            + ", ".join(sorted(listed))
        )
    return [parse_environment(str(selected), listed[selected])]
