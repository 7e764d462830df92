"""What a deployed environment tells its Lambda steps, through their environment variables.

The CDK stack sets these variables; handlers read them through :class:`DeploymentSettings`
when they run (never at import time), so tests can set them per case.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from runtime.documents import validate_document
from runtime.errors import ConfigError
from runtime.plan.configuration import ContextConfiguration, PlanningConfiguration
from runtime.volumes import EfsMount, VolumeConfiguration

PREFIX = "DEMAND_"


class DeploymentSettings(BaseModel):
    """The ``DEMAND_*`` environment variables of a Lambda step."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    environment: str = "local"
    file_system_id: str = Field(min_length=1)
    scratch_access_point_id: str | None = None
    shared_access_point_id: str | None = None
    tmp_access_point_id: str | None = None
    efs_mount_path: Path = Path("/mnt/efs")
    default_job_queue: str | None = None
    gpu_job_queue: str | None = None
    default_job_role_arn: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DeploymentSettings:
        environ = os.environ if environ is None else environ
        values = {
            name.removeprefix(PREFIX).lower(): value
            for name, value in environ.items()
            if name.startswith(PREFIX) and value != ""
        }
        return validate_document(cls, values, _settings_error)

    def mounts(self) -> list[EfsMount]:
        # The Lambdas mount the whole file system (an access point rooted at "/").
        return [EfsMount(file_system_id=self.file_system_id, local_path=self.efs_mount_path)]

    def planning(self) -> PlanningConfiguration:
        volumes = VolumeConfiguration(
            file_system_id=self.file_system_id,
            scratch_access_point_id=self.scratch_access_point_id,
            shared_access_point_id=self.shared_access_point_id,
            tmp_access_point_id=self.tmp_access_point_id,
            use_tmp_volume=self.tmp_access_point_id is not None,
        )
        context = ContextConfiguration(
            default_job_queue=self.default_job_queue,
            gpu_job_queue=self.gpu_job_queue,
            default_job_role=self.default_job_role_arn,
            name_prefix=f"demand-{self.environment}",
            allowed_schemes=frozenset({"s3"}),
            tags={"demand:environment": self.environment},
        )
        return PlanningConfiguration(volumes=volumes, context=context)


def _settings_error(problems: list[str]) -> ConfigError:
    # Name the variable, not the model field: that is what an operator can go and fix.
    named = (problem.partition(": ") for problem in problems)
    return ConfigError([f"{PREFIX}{field.upper()}: {message}" for field, _, message in named])
