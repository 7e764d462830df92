"""Results reused in the deployed flow: Prepare checks for a hit before staging anything, and
the successful Cleanup records the result (docs/reuse.md).

A hit is delivered inside Prepare (the outputs copied server-side, or left where they are),
which then tells the state machine ``reused_from``: a Choice ends the execution there. A miss
carries what the check saw (:class:`~runtime.reuse.lookup.SeenState`) through the state to the
Cleanup after a successful stage-out, which records the result then — before the working dir
it lists the outputs from is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.plan.configuration import PlanningConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.reuse.lookup import ReuseCheck, SeenState, check_reuse, record_result
from runtime.reuse.outputs import ResultGoneError, deliver
from runtime.reuse.records import RecordStore
from runtime.spec import DemandExecution
from runtime.steps.roots import ExecutionRoots
from runtime.steps.workdir import read_plan
from runtime.volumes import EfsMount

if TYPE_CHECKING:
    from runtime.sync.api import S3Access

# The runner a deployed result was produced by, in the key: AWS Batch.
DEPLOYED_RUNNER = "batch"


@dataclass(frozen=True)
class ReuseAccess:
    """How the steps reach the records and the data: the store, a boto3 S3 client for the
    server-side copies, and the sync engine's S3 access for listings (None: its default)."""

    store: RecordStore
    s3_client: Any
    s3: S3Access = None


@dataclass(frozen=True)
class Outcome:
    """A hit delivered (``reused_from``), or what a miss saw for the record (None: not
    reusable), and how the check read."""

    check: ReuseCheck
    reused_from: str | None = None

    @property
    def seen(self) -> SeenState | None:
        return SeenState.of(self.check) if self.reused_from is None else None


def before_staging(
    request: DemandExecution,
    plan: ExecutionPlan,
    configuration: PlanningConfiguration,
    access: ReuseAccess,
) -> Outcome:
    check = check_reuse(
        request,
        configuration.volumes,
        configuration.context,
        runner=DEPLOYED_RUNNER,
        store=access.store,
        s3=access.s3,
    )
    if check.hit is None:
        return Outcome(check)
    try:
        deliver(check.hit, plan, s3_client=access.s3_client, s3=access.s3)
    except ResultGoneError:
        return Outcome(check)
    return Outcome(check, reused_from=check.hit.execution_id)


def after_stage_out(
    seen: SeenState,
    execution_id: str,
    configuration: PlanningConfiguration,
    mounts: Sequence[EfsMount],
    access: ReuseAccess,
) -> str:
    """Record the result of a successful execution; what happened (never raises)."""
    try:
        roots = ExecutionRoots.of(execution_id, configuration.volumes)
        plan = read_plan(roots, mounts)  # the stored plan: where no job can write
    except Exception as exc:  # a record is never worth failing an execution for
        return f"not recorded: {exc}"
    return record_result(
        seen,
        plan,
        mounts,
        ttl_days=configuration.context.reuse_ttl_days,
        store=access.store,
        s3=access.s3,
    )
