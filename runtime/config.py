"""How a deployment or a laptop plans executions: volumes plus context settings, from a file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from runtime.documents import read_document, validate_document
from runtime.errors import ConfigError
from runtime.plan import ContextConfiguration
from runtime.volumes import VolumeConfiguration


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
    return validate_document(PlanningConfiguration, data, ConfigError)
