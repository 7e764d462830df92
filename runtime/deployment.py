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

from pydantic import BaseModel, ConfigDict, Field, Json

from runtime import contract
from runtime.documents import validate_document
from runtime.errors import ConfigError
from runtime.plan.configuration import ContextConfiguration, PlanningConfiguration, QueueLimits
from runtime.steps.access_points import ExecutionResources
from runtime.volumes import EfsMount, VolumeConfiguration

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_efs import EFSClient

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
    default_job_queue: str | None = Field(default=None, alias=contract.ENV_DEFAULT_JOB_QUEUE)
    gpu_job_queue: str | None = Field(default=None, alias=contract.ENV_GPU_JOB_QUEUE)
    default_job_role_arn: str | None = Field(default=None, alias=contract.ENV_DEFAULT_JOB_ROLE_ARN)
    # A JSON object by queue name; a queue it does not name has no limits checked.
    queue_limits: Json[dict[str, QueueLimits]] = Field(
        default_factory=dict, alias=contract.ENV_QUEUE_LIMITS
    )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DeploymentSettings:
        environ = os.environ if environ is None else environ
        values = {
            name: value
            for name, value in environ.items()
            if name.startswith(PREFIX) and value != ""
        }
        return validate_document(cls, values, ConfigError)

    def mounts(self) -> list[EfsMount]:
        # The Lambdas mount the whole file system (an access point rooted at "/").
        return [EfsMount(file_system_id=self.file_system_id, local_path=self.efs_mount_path)]

    def execution_resources(self, efs: EFSClient, batch: BatchClient) -> ExecutionResources:
        """What Prepare makes per execution and cleanup releases (access points, definition)."""
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
            tags={"demand:environment": self.environment},
        )
        return PlanningConfiguration(volumes=volumes, context=context)
