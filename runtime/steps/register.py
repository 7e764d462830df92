"""Register the job definition a plan needs — once: an identical active one is reused."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import contract
from runtime.errors import SpecError, translate_client_error
from runtime.steps.roots import ExecutionRoots, within

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient


class DefinitionRefusedError(SpecError):
    """A job definition that would give the job more than its own execution: never registered."""


# What a definition of this platform may hold at all (runtime.plan.batch.definition_body).
DEFINITION_KEYS = frozenset(
    {
        "jobDefinitionName",
        "type",
        "platformCapabilities",
        "containerProperties",
        "retryStrategy",
        "propagateTags",
        "timeout",
    }
)
CONTAINER_KEYS = frozenset(
    {"image", "resourceRequirements", "mountPoints", "volumes", "privileged", "jobRoleArn"}
)
# An access point's root directory and its execution tag (None for the stack's own).
AccessPointLookup = Callable[[str], tuple[str, str | None]]


def check_definition(
    definition: Mapping[str, Any],
    roots: ExecutionRoots,
    *,
    name_prefix: str,
    access_point: AccessPointLookup,
) -> None:
    """Refuse a definition that is not of the shape this execution's plan makes.

    Allowed: this execution's name, a container job with no more than the plan's fields,
    never privileged, and EFS volumes of the environment's file system only — rooted in the
    execution's own dirs (through its own access points, or directly), or at the shared cache
    when every mount of it is read-only.
    """
    problems = []
    name = definition.get("jobDefinitionName")
    if name != contract.execution_resource_name(name_prefix, roots.execution_id):
        problems.append(f"jobDefinitionName {name!r} is not this execution's")
    problems += [
        f"{key}: not part of a plan's definition" for key in definition.keys() - DEFINITION_KEYS
    ]
    if definition.get("type") != "container":
        problems.append("type: only container jobs")
    container = definition.get("containerProperties", {})
    problems += [
        f"containerProperties.{key}: not part of a plan's definition"
        for key in sorted(container.keys() - CONTAINER_KEYS)
    ]
    if container.get("privileged") is not False:
        problems.append("containerProperties.privileged: jobs never run privileged")
    writable: dict[str, bool] = {}
    for mount in container.get("mountPoints", []):
        volume = str(mount.get("sourceVolume"))
        writable[volume] = writable.get(volume, False) or mount.get("readOnly") is not True
    for volume in container.get("volumes", []):
        problems += _volume_problems(volume, writable, roots, access_point)
    if problems:
        raise DefinitionRefusedError(problems)


def _volume_problems(
    volume: Mapping[str, Any],
    writable: Mapping[str, bool],
    roots: ExecutionRoots,
    access_point: AccessPointLookup,
) -> list[str]:
    name = volume.get("name")
    efs = volume.get("efsVolumeConfiguration")
    if set(volume) != {"name", "efsVolumeConfiguration"} or not isinstance(efs, Mapping):
        return [f"volume {name!r}: only EFS volumes"]
    if efs.get("fileSystemId") != roots.working.file_system_id:
        return [f"volume {name!r}: not this environment's file system"]
    point = efs.get("authorizationConfig", {}).get("accessPointId")
    tag: str | None = roots.execution_id
    root = str(efs.get("rootDirectory", "/"))
    if point:
        root, tag = access_point(str(point))
    uri = f"efs://{roots.working.file_system_id}:{root}"
    try:
        own = tag == roots.execution_id and any(within(uri, place) for place in roots.own)
        shared = within(uri, roots.shared) and not writable.get(str(name), True)
    except ValueError:
        own = shared = False
    if own or shared:
        return []
    return [f"volume {name!r}: {uri} is outside the execution"]


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
