"""Is this request's result already known? And, after a successful run, record that it is.

The one sequence the local runner, ``demand plan`` and the deployed Prepare step follow: decide
whether the request may be reused at all (:func:`~runtime.reuse.key.reuse_refusal`), list its
inputs, compute the key, read the record, and check that the outputs it names are still there
unchanged. Anything that goes wrong on the way is a miss (the execution runs), never a failure
and never a stale result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from runtime.plan.configuration import ContextConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.reuse.key import (
    KEY_PATTERN,
    canonical_plan,
    image_digest,
    key_material,
    reuse_key,
    reuse_refusal,
)
from runtime.reuse.outputs import (
    input_listings,
    inputs_fingerprint,
    listing,
    recorded_outputs,
    still_there,
)
from runtime.reuse.records import RecordStore, ReuseRecord, Stored, new_record
from runtime.spec import DemandExecution
from runtime.volumes import EfsMount, VolumeConfiguration

if TYPE_CHECKING:
    from runtime.sync.api import S3Access


@dataclass(frozen=True)
class ReuseCheck:
    """What the check found: a key (None when the request is not reusable, ``refusal`` says
    why), what the store holds under it, and the record to reuse (None: a miss)."""

    key: str | None
    refusal: str | None = None
    stored: Stored | None = None
    hit: ReuseRecord | None = None
    miss_reason: str | None = None
    # What the inputs held when the key was computed (runtime.reuse.outputs.inputs_fingerprint)
    inputs: str | None = None

    def describe(self) -> str:
        if self.key is None:
            return f"not reusable: {self.refusal}"
        if self.hit is not None:
            return f"hit: reuses {self.hit.execution_id}"
        return f"miss: {self.miss_reason or 'no record'}"


def check_reuse(
    spec: DemandExecution,
    volumes: VolumeConfiguration,
    context: ContextConfiguration,
    *,
    runner: str,
    store: RecordStore,
    s3: S3Access = None,
) -> ReuseCheck:
    refusal = reuse_refusal(spec, context)
    digest = image_digest(spec.execution_image)
    if refusal is not None or digest is None:
        return ReuseCheck(key=None, refusal=refusal or "no image digest")
    try:
        canonical = canonical_plan(spec, volumes, context)
        listings = input_listings(canonical, s3=s3)
    except Exception as exc:  # an input that cannot be listed: stage-in will say
        return ReuseCheck(key=None, refusal=f"the inputs could not be listed: {exc}")
    key = reuse_key(key_material(canonical, digest=digest, runner=runner, listings=listings))
    inputs = inputs_fingerprint(canonical.stage_in, listings)
    try:
        stored = store.get(key)
    except Exception as exc:  # the store cannot be read: run, and do not record either
        return ReuseCheck(key=None, refusal=f"the records could not be read: {exc}")
    found = ReuseCheck(key=key, stored=stored, inputs=inputs)
    record = stored.record if stored is not None else None
    if stored is None:
        return found
    if record is None:
        return replace(found, miss_reason="the record is not readable")
    if record.expired():
        return replace(found, miss_reason="the record has expired")
    if {o.name for o in record.outputs} != set(spec.execution_parameters.outputs):
        return replace(found, miss_reason="the record's outputs differ")
    if not still_there(record, s3=s3):
        return replace(
            found, miss_reason=f"the outputs of {record.execution_id} changed or are gone"
        )
    return replace(found, hit=record)


def record_result(
    seen: SeenState,
    plan: ExecutionPlan,
    mounts: Sequence[EfsMount],
    *,
    ttl_days: int,
    store: RecordStore,
    s3: S3Access = None,
) -> str:
    """After a successful stage-out: record the result under the key the check computed
    (``seen``); what happened.

    The inputs are listed again first: one that changed since the check (while it was staged,
    say) lists differently, and then nothing is recorded — the result may be of either.
    """
    try:
        again = inputs_fingerprint(
            plan.stage_in,
            {r.destination: listing(r.source, r.filters, s3=s3) for r in plan.stage_in},
        )
        outputs = recorded_outputs(plan, mounts, s3=s3)
    except Exception as exc:  # a record is never worth failing a run for
        return f"not recorded: {exc}"
    if again != seen.inputs:
        return "not recorded: an input changed during the run"
    if outputs is None:
        return "not recorded: the outputs are not all at their destinations"
    record = new_record(seen.key, plan.execution_id, outputs, ttl_days=ttl_days)
    replacing = Stored(record=None, token=seen.token) if seen.stored else None
    try:
        written = store.put(record, replacing=replacing)
    except Exception as exc:
        return f"not recorded: {exc}"
    return "recorded" if written else "not recorded: another run recorded this key meanwhile"


class SeenState(BaseModel):
    """What a check saw, as the state machine carries it from Prepare to the record's writer:
    the key, the inputs' fingerprint, and whether a record was there (with its token)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    inputs: str = Field(pattern=r"^[0-9a-f]{64}$")
    stored: bool
    token: str | None = Field(default=None, max_length=64)

    @classmethod
    def of(cls, check: ReuseCheck) -> SeenState | None:
        if check.key is None or check.inputs is None:
            return None
        return cls(
            key=check.key,
            inputs=check.inputs,
            stored=check.stored is not None,
            token=check.stored.token if check.stored else None,
        )
