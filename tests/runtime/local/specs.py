"""Requests for the local runner's tests: a bash script, with file:// parameters as inputs."""

from __future__ import annotations

from typing import Any


def script_spec(execution_id: str, script: str, **params: str) -> dict[str, Any]:
    inputs = [name for name, value in params.items() if value.startswith("file://")]
    return {
        "execution_id": execution_id,
        "execution_image": "bash",
        "execution_parameters": {
            "command": ["bash", "-c", script],
            "params": params,
            "inputs": inputs,
        },
    }
