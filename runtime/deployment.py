"""What a deployed environment tells its Lambda steps, through their environment variables.

The CDK stack sets these variables; handlers read them through :class:`DeploymentSettings`
when they run (never at import time), so tests can set them per case. Their names are those of
``runtime.contract``, which the stack uses too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, Json, model_validator

from runtime import contract
from runtime.documents import validate_document
from runtime.errors import ConfigError
from runtime.plan.configuration import ContextConfiguration, PlanningConfiguration, QueueLimits
from runtime.plan.job_environment import EnvFileMode
from runtime.volumes import EfsMount, VolumeConfiguration

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_efs import EFSClient

    from runtime.steps.access_points import ExecutionResources

PREFIX = contract.VARIABLE_PREFIX


class DeploymentSettings(BaseModel):
    """The ``DEMAND_*`` environment variables of a Lambda step."""

    # Each field is read from the variable its alias names (so a problem names the variable,
    # which is what an operator can go and fix).
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    environment: str = Field(default="local", alias=contract.ENV_ENVIRONMENT)
    file_system_id: str = Field(min_length=1, alias=contract.ENV_FILE_SYSTEM_ID)
    shared_access_point_id: str | None = Field(
        default=None, alias=contract.ENV_SHARED_ACCESS_POINT_ID
    )
    use_tmp_volume: bool = Field(default=False, alias=contract.ENV_USE_TMP_VOLUME)
    mirror_outputs: bool = Field(default=False, alias=contract.ENV_MIRROR_OUTPUTS)
    # Empty: any bucket the steps' roles can reach (the roles are then the only boundary).
    allowed_buckets: str = Field(default="", alias=contract.ENV_ALLOWED_BUCKETS)
    efs_mount_path: Path = Field(
        default=Path(contract.LAMBDA_EFS_MOUNT_PATH), alias=contract.ENV_EFS_MOUNT_PATH
    )
    # Where Prepare reads a request too large to be the execution's input (unset: nowhere).
    request_bucket: str | None = Field(default=None, alias=contract.ENV_REQUEST_BUCKET)
    default_job_queue: str | None = Field(default=None, alias=contract.ENV_DEFAULT_JOB_QUEUE)
    gpu_job_queue: str | None = Field(default=None, alias=contract.ENV_GPU_JOB_QUEUE)
    default_job_role_arn: str | None = Field(default=None, alias=contract.ENV_DEFAULT_JOB_ROLE_ARN)
    # A JSON object by queue name; a queue it does not name has no limits checked.
    queue_limits: Json[dict[str, QueueLimits]] = Field(
        default_factory=dict, alias=contract.ENV_QUEUE_LIMITS
    )
    # How each execution is planned (ContextConfiguration's field of the same name); unset:
    # ContextConfiguration's default. The bounds are ContextConfiguration's, so that a value
    # out of them is reported here, naming its variable.
    isolate_inputs: bool | None = Field(default=None, alias=contract.ENV_ISOLATE_INPUTS)
    cleanup_inputs: bool | None = Field(default=None, alias=contract.ENV_CLEANUP_INPUTS)
    cleanup_working_dir: bool | None = Field(default=None, alias=contract.ENV_CLEANUP_WORKING_DIR)
    keep_working_dir_on_failure: bool | None = Field(
        default=None, alias=contract.ENV_KEEP_WORKING_DIR_ON_FAILURE
    )
    env_file_mode: EnvFileMode | None = Field(default=None, alias=contract.ENV_ENV_FILE_MODE)
    env_size_limit: int | None = Field(default=None, gt=0, alias=contract.ENV_ENV_SIZE_LIMIT)
    privileged: bool | None = Field(default=None, alias=contract.ENV_PRIVILEGED)
    retry_attempts: int | None = Field(default=None, ge=1, le=10, alias=contract.ENV_RETRY_ATTEMPTS)
    timeout_seconds: int | None = Field(default=None, ge=60, alias=contract.ENV_TIMEOUT_SECONDS)
    job_tags: Json[dict[str, str]] = Field(default_factory=dict, alias=contract.ENV_JOB_TAGS)
    max_timeout_seconds: int | None = Field(
        default=None, ge=60, alias=contract.ENV_MAX_TIMEOUT_SECONDS
    )
    max_retry_attempts: int | None = Field(
        default=None, ge=1, le=10, alias=contract.ENV_MAX_RETRY_ATTEMPTS
    )
    requests_may_isolate_inputs: bool | None = Field(
        default=None, alias=contract.ENV_REQUESTS_MAY_ISOLATE_INPUTS
    )
    requests_may_keep_working_dir: bool | None = Field(
        default=None, alias=contract.ENV_REQUESTS_MAY_KEEP_WORKING_DIR
    )
    reuse: bool | None = Field(default=None, alias=contract.ENV_REUSE)
    reuse_ttl_days: int | None = Field(
        default=None, ge=1, le=3650, alias=contract.ENV_REUSE_TTL_DAYS
    )
    # The table of reuse records (docs/reuse.md); unset: nothing is reused or recorded.
    reuse_table: str | None = Field(default=None, alias=contract.ENV_REUSE_TABLE)

    @model_validator(mode="after")
    def _planning_is_consistent(self) -> DeploymentSettings:
        context = ContextConfiguration()
        retries = self.retry_attempts or context.retry_attempts
        most_retries = self.max_retry_attempts or context.max_retry_attempts
        if retries > most_retries:
            raise ValueError(
                f"{contract.ENV_RETRY_ATTEMPTS} ({retries}) exceeds "
                f"{contract.ENV_MAX_RETRY_ATTEMPTS} ({most_retries})"
            )
        if self.max_timeout_seconds is not None and (
            self.timeout_seconds is None or self.timeout_seconds > self.max_timeout_seconds
        ):
            raise ValueError(
                f"{contract.ENV_TIMEOUT_SECONDS} ({self.timeout_seconds}) must be set and at "
                f"most {contract.ENV_MAX_TIMEOUT_SECONDS} ({self.max_timeout_seconds})"
            )
        reserved = [key for key in self.job_tags if key.lower().startswith(("demand:", "aws:"))]
        if reserved:
            raise ValueError(
                f"{contract.ENV_JOB_TAGS}: tags starting with demand: or aws: are the "
                f"platform's ({', '.join(sorted(reserved))})"
            )
        return self

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DeploymentSettings:
        environ = os.environ if environ is None else environ
        values = {
            name: value
            for name, value in environ.items()
            if name.startswith(PREFIX) and value != ""
        }
        # A variable of ours that nothing reads is a typo or a removed setting: refused, so
        # that it is fixed rather than silently without effect.
        read = {field.alias for field in cls.model_fields.values()}
        unknown = sorted(
            name
            for name in values
            if name not in read
            and name not in contract.OTHER_VARIABLES
            and not name.startswith(contract.OTHER_VARIABLE_PREFIXES)
        )
        if unknown:
            raise ConfigError(
                [f"{name}: not a setting of the steps (see docs/deploy.md)" for name in unknown]
            )
        return validate_document(cls, values, ConfigError)

    def mounts(self) -> list[EfsMount]:
        # The Lambdas mount the whole file system (an access point rooted at "/").
        return [EfsMount(file_system_id=self.file_system_id, local_path=self.efs_mount_path)]

    def execution_resources(self, efs: EFSClient, batch: BatchClient) -> ExecutionResources:
        """What Prepare makes per execution and cleanup releases (access points, definition)."""
        # Imported here: the steps that make or release nothing (sync, cache pruning) do not
        # load botocore for its ClientError.
        from runtime.steps.access_points import ExecutionResources

        planning = self.planning()
        return ExecutionResources(
            efs=efs,
            batch=batch,
            file_system_id=self.file_system_id,
            name_prefix=planning.context.name_prefix,
            tags=planning.context.tags,
            shared_access_point_id=planning.volumes.shared_access_point_id,
            shared_root=planning.volumes.shared_efs_path,
        )

    def planning(self) -> PlanningConfiguration:
        volumes = VolumeConfiguration(
            file_system_id=self.file_system_id,
            shared_access_point_id=self.shared_access_point_id,
            use_tmp_volume=self.use_tmp_volume,
        )
        context = ContextConfiguration(
            default_job_queue=self.default_job_queue,
            gpu_job_queue=self.gpu_job_queue,
            queue_limits=self.queue_limits,
            default_job_role=self.default_job_role_arn,
            name_prefix=contract.stack_name(self.environment),
            allowed_schemes=frozenset({"s3"}),
            allowed_buckets=frozenset(self.allowed_buckets.split(",")) - {""} or None,
            mirror_outputs=self.mirror_outputs,
            tags=self.job_tags | {"demand:environment": self.environment},
            **self._planning_choices(),
        )
        return PlanningConfiguration(volumes=volumes, context=context)

    def _planning_choices(self) -> dict[str, object]:
        """The planning settings that are set (an unset one keeps ContextConfiguration's)."""
        names = (
            "isolate_inputs",
            "cleanup_inputs",
            "cleanup_working_dir",
            "keep_working_dir_on_failure",
            "env_file_mode",
            "env_size_limit",
            "privileged",
            "retry_attempts",
            "timeout_seconds",
            "max_timeout_seconds",
            "max_retry_attempts",
            "requests_may_isolate_inputs",
            "requests_may_keep_working_dir",
            "reuse",
            "reuse_ttl_days",
        )
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}
