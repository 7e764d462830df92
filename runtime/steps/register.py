"""Register the job definition a plan needs — once: an identical active one is reused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime.errors import SpecError, translate_client_error
from runtime.steps.roots import ExecutionRoots, within

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient


class DefinitionRefusedError(SpecError):
    """A job definition that would give the job more than its own execution: never registered."""


def check_definition(
    definition: Mapping[str, Any], roots: ExecutionRoots, *, name_prefix: str
) -> None:
    """Refuse a definition that is not the one this execution's plan makes: another name, a
    privileged container, or a volume rooted outside the execution's own dirs (read-write) or
    the shared cache (read-only). Access points were made by Prepare, rooted there."""
    problems = []
    name = definition.get("jobDefinitionName")
    if name != f"{name_prefix}-{roots.execution_id}":
        problems.append(f"jobDefinitionName {name!r} is not this execution's")
    container = definition.get("containerProperties", {})
    if container.get("privileged"):
        problems.append("containerProperties.privileged: jobs never run privileged")
    read_only = {m.get("sourceVolume"): m.get("readOnly") for m in container.get("mountPoints", [])}
    for volume in container.get("volumes", []):
        efs = volume.get("efsVolumeConfiguration", {})
        if efs.get("authorizationConfig", {}).get("accessPointId"):
            continue  # made by Prepare for this execution, rooted at its own directory
        root = f"efs://{efs.get('fileSystemId')}:{efs.get('rootDirectory', '/')}"
        allowed = [roots.shared] if read_only.get(volume.get("name")) is True else roots.own
        try:
            inside = any(within(root, place) for place in allowed)
        except ValueError:
            inside = False
        if not inside:
            problems.append(f"volume {volume.get('name')!r}: {root} is outside the execution")
    if problems:
        raise DefinitionRefusedError(problems)


def register_job_definition(definition: dict[str, Any], batch: BatchClient) -> str:
    """The ARN of an active job definition with exactly this content, registering it if new.

    The definition's name is a hash of its content, so a definition of that name normally
    matches; the content is compared anyway, so a definition edited by hand is not reused.
    """
    name = definition["jobDefinitionName"]
    try:
        pages = batch.get_paginator("describe_job_definitions").paginate(
            jobDefinitionName=name, status="ACTIVE"
        )
        existing = [d for page in pages for d in page["jobDefinitions"]]
        for candidate in sorted(existing, key=lambda d: d["revision"], reverse=True):
            if _holds(_normalised(candidate), definition):
                return candidate["jobDefinitionArn"]
        return batch.register_job_definition(**definition)["jobDefinitionArn"]
    except ClientError as exc:
        raise translate_client_error(exc, f"job definition {name}") from exc


def _normalised(described: Any) -> Any:
    """Batch describes retry actions in lower case ("retry") though it takes "RETRY"."""
    rules = described.get("retryStrategy", {}).get("evaluateOnExit", [])
    for rule in rules:
        if "action" in rule:
            rule["action"] = rule["action"].upper()
    return described


def _holds(existing: Any, wanted: Any) -> bool:
    """Whether ``existing`` (as Batch describes it) has every value that ``wanted`` sets.

    Batch adds defaults of its own (empty lists, ulimits...), so only what we set is compared.
    """
    if isinstance(wanted, dict):
        return isinstance(existing, dict) and all(
            _holds(existing.get(key), value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(wanted)
            and all(_holds(e, w) for e, w in zip(existing, wanted, strict=True))
        )
    return bool(existing == wanted)
