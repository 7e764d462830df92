"""How a deployment or a laptop plans executions: volumes plus context settings, from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.documents import read_document, validate_document
from runtime.errors import ConfigError
from runtime.plan.job_environment import EnvFileMode
from runtime.volumes import VolumeConfiguration


class QueueLimits(BaseModel):
    """The largest instance a job queue's compute environments can launch, as a job can use it.

    A single-container job runs on one instance: one that asks for more than this would wait in
    RUNNABLE for ever, so planning refuses it. A limit left out is not checked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    vcpus: int | None = Field(default=None, gt=0)
    # MiB a container can get: the instance's memory less what the ECS agent reserves.
    memory: int | None = Field(default=None, gt=0)
    gpu: int | None = Field(default=None, ge=0)


class ContextConfiguration(BaseModel):
    """How this environment plans executions: the settings a request does not choose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    isolate_inputs: bool = False
    # Where inputs may come from and outputs go. A deployed environment allows s3 only: a
    # file:// location there would be a path on the file system the Lambda steps share.
    allowed_schemes: frozenset[Literal["s3", "file"]] = frozenset({"s3", "file"})
    # The buckets inputs may come from and outputs go to; None: any the steps can reach.
    allowed_buckets: frozenset[str] | None = None
    cleanup_inputs: bool = True
    # Stage-out mirrors each output's destination: what the job did not produce there (or its
    # filters leave out) is deleted, as the established system does. Off by default: an output
    # prefix is often reused across runs or shared with other producers, and a deletion cannot
    # be undone (see docs/migrating.md).
    mirror_outputs: bool = False
    cleanup_working_dir: bool = True
    keep_working_dir_on_failure: bool = False
    env_file_mode: EnvFileMode = EnvFileMode.IF_REQUIRED
    env_size_limit: int = Field(default=8192, gt=0)
    default_job_queue: str | None = None
    gpu_job_queue: str | None = None
    # The largest instance behind each job queue (by name), for the queues whose limits are
    # known; a request that no instance of its queue can hold is refused at planning.
    queue_limits: dict[str, QueueLimits] = Field(default_factory=dict)
    default_job_role: str | None = None
    name_prefix: str = Field(default="demand", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
    privileged: bool = False
    retry_attempts: int = Field(default=3, ge=1, le=10)
    timeout_seconds: int | None = Field(default=None, ge=60)
    tags: dict[str, str] = Field(default_factory=dict)
    # What a request may choose for itself (its execution_options), and the most it may ask:
    # a request over a limit is refused at planning, naming the field and the limit.
    max_timeout_seconds: int | None = Field(default=None, ge=60)  # None: no limit
    max_retry_attempts: int = Field(default=10, ge=1, le=10)
    requests_may_isolate_inputs: bool = True
    requests_may_keep_working_dir: bool = True
    # Results reused (docs/reuse.md): an execution whose result is already recorded, with its
    # outputs still unchanged, is not run again. A request may turn it off for itself.
    reuse: bool = True
    # How long a record is kept (a DynamoDB TTL when deployed); an older one is a miss.
    reuse_ttl_days: int = Field(default=30, ge=1, le=3650)

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> Self:
        if self.retry_attempts > self.max_retry_attempts:
            raise ValueError(
                f"retry_attempts ({self.retry_attempts}) exceeds max_retry_attempts "
                f"({self.max_retry_attempts})"
            )
        if self.max_timeout_seconds is not None and (
            self.timeout_seconds is None or self.timeout_seconds > self.max_timeout_seconds
        ):
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) must be set and at most "
                f"max_timeout_seconds ({self.max_timeout_seconds})"
            )
        return self


class PlanningConfiguration(BaseModel):
    """``{"volumes": {...}, "context": {...}}``, as in ``--config FILE``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    volumes: VolumeConfiguration = Field(default_factory=VolumeConfiguration)
    context: ContextConfiguration = Field(default_factory=ContextConfiguration)


def load_configuration(
    path: Path | None = None, *, file_system_id: str | None = None
) -> PlanningConfiguration:
    """The configuration in ``path`` (defaults without one); ``file_system_id`` overrides."""
    data = (read_document(path, ConfigError) if path is not None else None) or {}
    if file_system_id is not None and isinstance(data, dict):
        volumes = data.get("volumes")
        volumes = volumes if isinstance(volumes, dict) else {}
        data = {**data, "volumes": {**volumes, "file_system_id": file_system_id}}
    try:
        return validate_document(PlanningConfiguration, data, ConfigError)
    except ConfigError as exc:
        if path is None:
            raise
        # the request and the configuration share field names (volumes, ...): say which file
        raise ConfigError([f"{path}: {problem}" for problem in exc.problems]) from None
