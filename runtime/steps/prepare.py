"""The Prepare step: validate the request, plan it, lay out its working dir, and hand the state
machine the part of the plan it routes on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runtime.errors import PlanError, SpecError
from runtime.plan.builder import build_plan
from runtime.plan.configuration import PlanningConfiguration
from runtime.plan.models import ExecutionPlan, with_access_points
from runtime.spec import parse_spec
from runtime.steps.access_points import ExecutionResources
from runtime.steps.cleanup import CleanupItem
from runtime.steps.reuse import ReuseAccess, before_staging
from runtime.steps.roots import ExecutionRoots
from runtime.steps.stage import INLINE_LIMIT, sync_items
from runtime.steps.workdir import claim_execution_dirs, prepare_working_dir
from runtime.volumes import EfsMount


@dataclass(frozen=True)
class ExecutionOwner:
    """The Step Functions execution a Prepare serves: its ARN and its name."""

    arn: str
    name: str


def prepare_execution(
    spec: object,
    configuration: PlanningConfiguration,
    mounts: Sequence[EfsMount],
    resources: ExecutionResources | None = None,
    *,
    owner: ExecutionOwner | None = None,
    reuse: ReuseAccess | None = None,
) -> dict[str, Any]:
    """Everything the state machine needs after Prepare (``$.plan``), as JSON-ready data.

    With ``resources`` (a deployment), the job's own-directory volumes get access points of
    their own, so the job can reach nothing else on the file system. With ``owner`` (the state
    machine's execution), the request's id must be the execution's name — a request without
    one takes it — and the execution's dirs are claimed for that execution alone. With
    ``reuse`` (the environment's records), a result already known is delivered here and the
    view says ``reused_from``: nothing is claimed, laid out or staged (runtime/steps/reuse.py).
    """
    request = parse_spec(_named(spec, owner))
    if owner is not None and request.execution_id != owner.name:
        raise SpecError(
            [
                f"execution_id: {request.execution_id!r} is not the name of this execution "
                f"({owner.name!r}); start it under its own id"
            ]
        )
    plan = build_plan(request, configuration.volumes, configuration.context)
    if plan.job.job_queue is None:
        raise PlanError(
            "no job queue: set execution_platform.aws_batch.job_queue_name "
            "or deploy the environment with a default queue"
        )
    seen = None
    if reuse is not None:
        outcome = before_staging(request, plan, configuration, reuse)
        if outcome.reused_from is not None:
            return {
                "execution_id": plan.execution_id,
                "reused_from": outcome.reused_from,
                "reuse": None,
            }
        seen = outcome.seen
    roots = ExecutionRoots.of(plan.execution_id, configuration.volumes)
    if owner is not None:
        claim_execution_dirs(roots, mounts, owner.arn)
    prepare_working_dir(plan, roots, mounts)
    if resources is not None:
        access_points = resources.create_access_points(plan, roots)
        plan = plan.model_copy(update={"job": with_access_points(plan.job, access_points)})
        prepare_working_dir(plan, roots, mounts)  # stores the plan as it will run
    view = state_machine_view(plan)
    # What the check saw, for the Cleanup that records the result (null: not reusable).
    view["reuse"] = seen.model_dump() if seen is not None else None
    return view


def _named(spec: object, owner: ExecutionOwner | None) -> object:
    """The request, with the execution's name as its id when it names none."""
    if owner is None or not isinstance(spec, dict):
        return spec
    if "execution_id" in spec or "executionId" in spec:
        return spec
    return {**spec, "execution_id": owner.name}


def state_machine_view(plan: ExecutionPlan) -> dict[str, Any]:
    """The plan as the state machine reads it: Batch's own field names, stages as items.

    Sizes stay bounded whatever the plan: the environment is capped by the env-file limit, and
    a stage is at most a few dozen items that refer to the stored plan when it is large.
    """
    overrides = plan.job.container_overrides()
    stages = {
        direction: [item.model_dump() for item in sync_items(plan, direction)]
        for direction in ("stage_in", "stage_out")
    }
    return {
        "execution_id": plan.execution_id,
        "job": {
            "execution_id": plan.execution_id,
            "definition": plan.job.job_definition(),
            "submit": {
                "JobName": plan.job.job_name,
                "JobQueue": plan.job.job_queue,
                "ContainerOverrides": {
                    "Command": overrides["command"],
                    "Environment": [
                        {"Name": v["name"], "Value": v["value"]} for v in overrides["environment"]
                    ],
                    "ResourceRequirements": [
                        {"Type": r["type"], "Value": r["value"]}
                        for r in overrides["resourceRequirements"]
                    ],
                },
                "Tags": plan.job.tags,
            },
        },
        "stage_in": {"items": stages["stage_in"], "pending": bool(stages["stage_in"])},
        "stage_out": {"items": stages["stage_out"], "pending": bool(stages["stage_out"])},
        "cleanup": _cleanup_item(plan).model_dump(),
        "reused_from": None,
    }


def _cleanup_item(plan: ExecutionPlan) -> CleanupItem:
    inline = sum(len(r.model_dump_json()) for r in plan.cleanup) <= INLINE_LIMIT
    return CleanupItem(execution_id=plan.execution_id, requests=plan.cleanup if inline else None)
