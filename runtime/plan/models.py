"""The ExecutionPlan's models: what ``demand plan --json`` prints and every later step reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from runtime.plan.batch import definition_body
from runtime.plan.job_environment import container_overrides
from runtime.sync.model import SyncRequest
from runtime.volumes import Volume


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class PathRef(_Model):
    container_path: str
    efs_uri: str


class PlannedInput(_Model):
    name: str
    env_name: str
    remote: str
    container_path: str
    efs_uri: str
    shared: bool


class PlannedOutput(_Model):
    name: str
    env_name: str
    remote: str
    container_path: str
    efs_uri: str


class Resources(_Model):
    vcpus: int
    memory: int
    gpu: int

    def to_batch(self) -> list[dict[str, str]]:
        requirements = [
            {"type": "VCPU", "value": str(self.vcpus)},
            {"type": "MEMORY", "value": str(self.memory)},
        ]
        if self.gpu:
            requirements.append({"type": "GPU", "value": str(self.gpu)})
        return requirements


class MountPoint(_Model):
    container_path: str
    source_volume: str
    read_only: bool


class JobVolume(_Model):
    """An EFS volume of the job definition: always encrypted in transit, IAM-authorised.

    ``root_directory`` is the EFS path the job sees as the volume's root — with an access point
    too (the access point is rooted there). For scratch and tmp it is the execution's own
    directory, so a job never sees another execution's files.
    """

    name: str
    file_system_id: str
    root_directory: str
    access_point_id: str | None

    def to_batch(self) -> dict[str, Any]:
        efs: dict[str, Any] = {
            "fileSystemId": self.file_system_id,
            # With an access point, the access point chooses the directory; Batch wants "/".
            "rootDirectory": "/" if self.access_point_id else self.root_directory,
            "transitEncryption": "ENABLED",
            "authorizationConfig": {"iam": "ENABLED"},
        }
        if self.access_point_id:
            efs["authorizationConfig"]["accessPointId"] = self.access_point_id
        return {"name": self.name, "efsVolumeConfiguration": efs}


class RetryRule(_Model):
    action: Literal["RETRY", "EXIT"]
    on_status_reason: str | None = None
    on_reason: str | None = None
    on_exit_code: str | None = None


class EnvFile(_Model):
    path: str
    content: str


class JobPlan(_Model):
    image: str
    job_definition_name: str
    job_name: str
    job_queue: str | None
    job_role: str | None
    command: list[str]
    environment: dict[str, str]
    env_file: EnvFile | None
    resources: Resources
    mount_points: list[MountPoint]
    volumes: list[JobVolume]
    privileged: bool
    retry_attempts: int
    retry_rules: list[RetryRule]
    timeout_seconds: int | None
    tags: dict[str, str]

    def job_definition(self) -> dict[str, Any]:
        """RegisterJobDefinition's arguments: only what the definition's name is a hash of."""
        return definition_body(self) | {"jobDefinitionName": self.job_definition_name}

    def container_overrides(self) -> dict[str, Any]:
        """SubmitJob's containerOverrides, in the API's own shape."""
        return container_overrides(self.command, self.environment, self.resources.to_batch())


def with_access_points(job: JobPlan, access_points: Mapping[str, str]) -> JobPlan:
    """``job`` with its volumes mounted through the given access points (by volume name)."""
    volumes = [
        v.model_copy(update={"access_point_id": access_points[v.name]})
        if v.name in access_points
        else v
        for v in job.volumes
    ]
    return job.model_copy(update={"volumes": volumes})


class CleanupRequest(_Model):
    path: str
    on_success: bool = True
    on_failure: bool = True


class ExecutionPlan(_Model):
    execution_id: str
    execution_type: str
    volumes: list[Volume]
    working_dir: PathRef
    tmp_dir: PathRef
    inputs: list[PlannedInput]
    outputs: list[PlannedOutput]
    job: JobPlan
    stage_in: list[SyncRequest]
    stage_out: list[SyncRequest]
    cleanup: list[CleanupRequest]
