"""Spec builders for tests: a valid request, varied through keyword overrides."""

from __future__ import annotations

from typing import Any


def spec_dict(**parameters: Any) -> dict[str, Any]:
    """A valid DemandExecution request; keyword arguments replace execution_parameters fields."""
    execution_parameters: dict[str, Any] = {
        "command": ["process", "${input}", "${output}"],
        "params": {"input": "s3://bucket/data/in.txt", "output": "out.txt", "level": 3},
        "inputs": ["input"],
        "outputs": ["output"],
        "output_s3_prefix": "s3://bucket/results/",
    }
    execution_parameters.update(parameters)
    return {
        "execution_type": "custom",
        "execution_id": "exec-1",
        "execution_image": "public.ecr.aws/example/tool:1.0",
        "execution_parameters": execution_parameters,
        "resource_requirements": {"vcpus": 2, "memory": 4096},
        "execution_platform": {"aws_batch": {"job_queue_name": "queue"}},
        "execution_metadata": {"user": "ada", "tags": {"project": "p1"}},
    }
