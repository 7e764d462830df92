"""Which variables go in the container overrides and which in an env file.

Batch refuses a SubmitJob whose container overrides are too large, so a large environment is
split: what the command references (and the platform's own variables) stays direct, the rest
moves to a file in the working dir that the job script sources. The size test measures the
overrides exactly as they are sent — the JSON bytes of command plus environment — not the size
of Python objects.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any

from runtime.errors import PlanError


class EnvFileMode(StrEnum):
    NEVER = "NEVER"
    ALWAYS = "ALWAYS"
    IF_REQUIRED = "IF_REQUIRED"


def batch_environment(environment: Mapping[str, str]) -> list[dict[str, str]]:
    """The environment in the shape of Batch's ``containerOverrides.environment``."""
    return [{"name": name, "value": value} for name, value in environment.items()]


def container_overrides(
    command: list[str], environment: Mapping[str, str], resources: list[dict[str, str]]
) -> dict[str, Any]:
    """SubmitJob's ``containerOverrides``, in the API's own shape."""
    return {
        "command": command,
        "environment": batch_environment(environment),
        "resourceRequirements": resources,
    }


def overrides_size(overrides: Mapping[str, Any]) -> int:
    """Bytes of the container overrides as JSON on the wire."""
    return len(json.dumps(overrides, separators=(",", ":")).encode("utf-8"))


def split_environment(
    environment: Mapping[str, str],
    *,
    keep_direct: Collection[str],
    mode: EnvFileMode,
    limit: int,
    command_direct: list[str],
    command_with_file: list[str],
    resources: list[dict[str, str]],
) -> tuple[dict[str, str], dict[str, str]]:
    """Split into (direct, file) variables.

    The two commands are the job's command without and with an env file (the script differs
    by one ``source`` line), so the size is measured on what would really be sent.
    """
    everything = dict(environment)
    direct = {name: value for name, value in everything.items() if name in keep_direct}
    in_file = {name: value for name, value in everything.items() if name not in keep_direct}

    without_file = container_overrides(command_direct, everything, resources)
    use_file = mode is EnvFileMode.ALWAYS or (
        mode is EnvFileMode.IF_REQUIRED and overrides_size(without_file) > limit
    )
    if not use_file or not in_file:
        _check_size(without_file, limit, mode)
        return everything, {}
    _check_size(container_overrides(command_with_file, direct, resources), limit, mode)
    return direct, in_file


def _check_size(overrides: Mapping[str, Any], limit: int, mode: str) -> None:
    size = overrides_size(overrides)
    if size > limit:
        raise PlanError(
            f"container overrides take {size} bytes, over the {limit}-byte limit "
            f"(env file mode {mode}): "
            + (
                "use env_file_mode IF_REQUIRED or ALWAYS"
                if mode == EnvFileMode.NEVER
                else "the variables the command references are too large to pass directly"
            )
        )
