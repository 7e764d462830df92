"""Is this request's result already known? And, after a successful run, record that it is.

The one sequence the local runner, ``demand plan`` and the deployed Prepare step follow: decide
whether the request may be reused at all (:func:`~runtime.reuse.key.reuse_refusal`), list its
inputs, compute the key, read the record, and check that the outputs it names are still there
unchanged. Anything that goes wrong on the way is a miss (the execution runs), never a failure
and never a stale result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime.plan.configuration import ContextConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.reuse.key import (
    canonical_plan,
    image_digest,
    key_material,
    reuse_key,
    reuse_refusal,
)
from runtime.reuse.outputs import input_listings, recorded_outputs, still_there
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
        key = request_key(spec, volumes, context, runner=runner, digest=digest, s3=s3)
    except Exception as exc:  # an input that cannot be listed: stage-in will say
        return ReuseCheck(key=None, refusal=f"the inputs could not be listed: {exc}")
    stored = store.get(key)
    if stored is None:
        return ReuseCheck(key=key)
    record = stored.record
    if record is None:
        return ReuseCheck(key=key, stored=stored, miss_reason="the record is not readable")
    if record.expired():
        return ReuseCheck(key=key, stored=stored, miss_reason="the record has expired")
    if {o.name for o in record.outputs} != set(spec.execution_parameters.outputs):
        return ReuseCheck(key=key, stored=stored, miss_reason="the record's outputs differ")
    if not still_there(record, s3=s3):
        return ReuseCheck(
            key=key,
            stored=stored,
            miss_reason=f"the outputs of {record.execution_id} changed or are gone",
        )
    return ReuseCheck(key=key, stored=stored, hit=record)


def request_key(
    spec: DemandExecution,
    volumes: VolumeConfiguration,
    context: ContextConfiguration,
    *,
    runner: str,
    digest: str,
    s3: S3Access = None,
) -> str:
    canonical = canonical_plan(spec, volumes, context)
    listings = input_listings(canonical, s3=s3)
    return reuse_key(key_material(canonical, digest=digest, runner=runner, listings=listings))


def record_result(
    check: ReuseCheck,
    spec: DemandExecution,
    plan: ExecutionPlan,
    volumes: VolumeConfiguration,
    context: ContextConfiguration,
    mounts: Sequence[EfsMount],
    *,
    runner: str,
    store: RecordStore,
    s3: S3Access = None,
) -> str:
    """After a successful stage-out: record the result under the check's key; what happened.

    The inputs are listed again first: one that changed since the check (while it was staged,
    say) gives another key, and then nothing is recorded — the result may be of either.
    """
    digest = image_digest(spec.execution_image)
    if check.key is None or digest is None:
        return "not recorded"
    try:
        again = request_key(spec, volumes, context, runner=runner, digest=digest, s3=s3)
        outputs = recorded_outputs(plan, mounts, s3=s3)
    except Exception as exc:  # a record is never worth failing a run for
        return f"not recorded: {exc}"
    if again != check.key:
        return "not recorded: an input changed during the run"
    if outputs is None:
        return "not recorded: the outputs are not all at their destinations"
    record = new_record(check.key, plan.execution_id, outputs, ttl_days=context.reuse_ttl_days)
    if store.put(record, replacing=check.stored):
        return "recorded"
    return "not recorded: another run recorded this key meanwhile"
