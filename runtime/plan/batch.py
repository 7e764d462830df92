"""The plan's job in AWS Batch's own shapes: RegisterJobDefinition's body."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.plan.models import JobPlan


def definition_body(job: JobPlan) -> dict[str, Any]:
    retry: dict[str, Any] = {
        "attempts": job.retry_attempts,
        "evaluateOnExit": [
            {
                key: value
                for key, value in {
                    "action": rule.action,
                    "onStatusReason": rule.on_status_reason,
                    "onReason": rule.on_reason,
                    "onExitCode": rule.on_exit_code,
                }.items()
                if value is not None
            }
            for rule in job.retry_rules
        ],
    }
    container: dict[str, Any] = {
        "image": job.image,
        "resourceRequirements": job.resources.to_batch(),
        "mountPoints": [
            {
                "containerPath": m.container_path,
                "sourceVolume": m.source_volume,
                "readOnly": m.read_only,
            }
            for m in job.mount_points
        ],
        "volumes": [v.to_batch() for v in job.volumes],
        "privileged": job.privileged,
    }
    if job.job_role:
        container["jobRoleArn"] = job.job_role
    body: dict[str, Any] = {
        "type": "container",
        "platformCapabilities": ["EC2"],
        "containerProperties": container,
        "retryStrategy": retry,
        "propagateTags": True,
    }
    if job.timeout_seconds:
        body["timeout"] = {"attemptDurationSeconds": job.timeout_seconds}
    return body
