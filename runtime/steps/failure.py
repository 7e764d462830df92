"""What an execution's error says when its job never started.

A queue cancels a job that stayed RUNNABLE too long for a reason that means "not soon"
(``runtime.contract.RUNNABLE_TIME_LIMIT_REASONS``); the state machine then holds Batch's whole
job description as the error's cause. :func:`explained_error` replaces it by one sentence that
names the reason and what to change. Every other error passes through unchanged. The readers
of an execution's end apply it: ``demand status`` and the notifications.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runtime import contract

# What to change, by reason.
REMEDIES = {
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": (
        "EC2 had no capacity for the instance types its queue may launch: submit again "
        "later, ask for less (resource_requirements), use another queue "
        "(execution_platform.aws_batch.job_queue_name), or add instance types "
        "(compute.*.instance_types in cdk.json)"
    ),
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": (
        "it needs more vCPUs than its queue's compute environments may run: ask for fewer "
        "(resource_requirements.vcpus) or raise compute.*.max_vcpus in cdk.json"
    ),
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": (
        "no instance type its queue may launch has the vCPUs, memory or GPUs it asks for: ask "
        "for less (resource_requirements) or add larger instance types "
        "(compute.*.instance_types in cdk.json)"
    ),
    "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED": (
        "its queue's instances cannot run it (instance type, AMI or architecture): check that "
        "the image is built for the instances' architecture, and compute.*.instance_types"
    ),
}


# Batch's status reason for a job its queue's time-limit action cancelled (the Batch user guide
# gives contract.CANCELLED_BY_TIME_LIMIT + the reason); a detail Batch might add after the
# reason, or the other spelling, does not hide it.
_CANCELLED = re.compile(
    r"(?:Canceled|Cancelled|Terminated) by JobStateTimeLimit action due to reason: (\S+)"
)


def explained_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """``error`` (``{"Error": ..., "Cause": ...}``), or for a job its queue cancelled because it
    could not start, an error that says which reason and what to change."""
    if error is None:
        return None
    job = _job_description(error.get("Cause"))
    status_reason = job.get("StatusReason") if job is not None else None
    if not isinstance(status_reason, str):
        return error
    cancelled = _CANCELLED.match(status_reason.strip())
    reason = cancelled.group(1).rstrip(".,;") if cancelled else None
    setting = contract.RUNNABLE_TIME_LIMIT_REASONS.get(reason) if reason else None
    if reason is None or setting is None:
        return error
    assert job is not None
    name, queue = job.get("JobName"), job.get("JobQueue")
    subject = "the job" + (f" {name}" if isinstance(name, str) else "")
    if isinstance(queue, str):
        subject += f" in queue {queue.rsplit('/', 1)[-1]}"
    return {
        "Error": contract.ERROR_JOB_COULD_NOT_START,
        "Cause": (
            f"{subject} never started: it stayed RUNNABLE ({reason}) for the minutes "
            f"compute.runnable_time_limits.{setting} allows and was cancelled; {REMEDIES[reason]}"
        ),
    }


def explained(error: str | None, cause: str | None) -> tuple[str | None, str | None]:
    """An execution's error and cause as :func:`explained_error` gives them: the execution's
    own (a step's, since no state catches a failure), or for a job its queue cancelled, one
    that says which reason and what to change."""
    explanation = explained_error({"Error": error, "Cause": cause}) or {}
    return explanation.get("Error"), explanation.get("Cause")


def _job_description(cause: object) -> dict[str, Any] | None:
    if not isinstance(cause, str) or not cause.startswith("{"):
        return None
    try:
        parsed = json.loads(cause)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
