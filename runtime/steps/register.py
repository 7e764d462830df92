"""Register the job definition a plan needs — once: an identical active one is reused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime.errors import translate_client_error

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient


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
