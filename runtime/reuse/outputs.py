"""Inputs and outputs as the sync engine lists them; a recorded result checked and delivered.

Every listing is the engine's own (:func:`runtime.sync.inventory.list_location`): ListObjectsV2
and HEAD requests, never an object's body. A result is delivered by copying each recorded
object to the new destination — server-side between S3 locations (boto3's managed copy, which
copies a large object in parts, on the condition that the source still has its recorded ETag),
by the sync engine otherwise — or not at all when the destination is the one recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from runtime.plan.models import ExecutionPlan, PlannedOutput
from runtime.reuse.key import ObjectIdentity
from runtime.reuse.records import MAX_RECORDED_OBJECTS, RecordedOutput, ReuseRecord
from runtime.sync import SyncRequest, sync
from runtime.sync.inventory import list_location
from runtime.sync.listing import Entry
from runtime.volumes import EfsMount, efs_to_local

if TYPE_CHECKING:
    from runtime.sync.api import S3Access


class ResultGoneError(Exception):
    """A recorded result is no longer what was recorded (or cannot be read): run instead."""


def identity(entry: Entry) -> ObjectIdentity:
    return ObjectIdentity(
        relpath=entry.relpath,
        size=entry.size,
        etag=entry.etag,
        mtime_ns=entry.mtime_ns,
        ctime_ns=entry.ctime_ns,
        ino=entry.ino,
    )


def listing(
    location: str, filters: tuple[tuple[str, str], ...] = (), *, s3: S3Access = None
) -> tuple[bool, list[ObjectIdentity]]:
    single, entries = list_location(location, filters, s3=s3)
    return single, [identity(entry) for entry in entries]


def input_listings(
    plan: ExecutionPlan, *, s3: S3Access = None
) -> dict[str, tuple[bool, list[ObjectIdentity]]]:
    """Each stage-in's objects (by its destination, the input's ``efs_uri``)."""
    return {
        request.destination: listing(request.source, request.filters, s3=s3)
        for request in plan.stage_in
    }


def inputs_fingerprint(
    stage_in: Sequence[SyncRequest], listings: Mapping[str, tuple[bool, Sequence[ObjectIdentity]]]
) -> str:
    """A hash of what each stage-in's source held, in the plan's order: the same for the
    canonical plan and the execution's own (they differ only in where isolated inputs land)."""
    listed = [
        [
            request.source,
            [list(rule) for rule in request.filters],
            listings[request.destination][0],
            [item.model_dump(mode="json") for item in listings[request.destination][1]],
        ]
        for request in stage_in
    ]
    text = json.dumps(listed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def destination(output: PlannedOutput, *, single: bool) -> str:
    """Where a stage-out of ``output`` puts it, as the sync engine resolves a destination: a
    single file into a prefix (or a directory) keeps its name."""
    remote = output.remote
    if not single:
        return remote.rstrip("/") + "/"
    name = PurePosixPath(output.container_path).name
    if remote.endswith("/") or (remote.startswith("file://") and Path(_path(remote)).is_dir()):
        return remote.rstrip("/") + "/" + name
    return remote


def recorded_outputs(
    plan: ExecutionPlan, mounts: Sequence[EfsMount], *, s3: S3Access = None
) -> tuple[RecordedOutput, ...] | None:
    """After a successful stage-out: each output as it now is at its destination, limited to
    the files the job produced; None when a destination does not hold them all (or too many)."""
    filters = {request.source: request.filters for request in plan.stage_out}
    recorded = []
    total = 0
    for output in plan.outputs:
        local = efs_to_local(output.efs_uri, mounts)
        single, produced = listing(str(local), filters.get(output.efs_uri, ()))
        where = destination(output, single=single)
        _, found = listing(where, s3=s3)
        at = {item.relpath: item for item in found}
        objects = []
        for item in produced:
            there = at.get(item.relpath)
            if there is None or there.size != item.size:
                return None
            objects.append(there)
        total += len(objects)
        if total > MAX_RECORDED_OBJECTS:
            return None
        recorded.append(
            RecordedOutput(name=output.name, location=where, single=single, objects=tuple(objects))
        )
    return tuple(recorded)


def still_there(record: ReuseRecord, *, s3: S3Access = None) -> bool:
    """Whether every recorded object is still at its location, as recorded."""
    try:
        for output in record.outputs:
            single, found = listing(output.location, s3=s3)
            at = {item.relpath: item for item in found}
            if single != output.single or any(at.get(o.relpath) != o for o in output.objects):
                return False
    except Exception:  # anything that stops the check is a miss, not a failure
        return False
    return True


def deliver(
    record: ReuseRecord, plan: ExecutionPlan, *, s3_client: Any = None, s3: S3Access = None
) -> list[str]:
    """Put the recorded outputs where ``plan`` wants them; the locations copied to.

    Raises :class:`ResultGoneError` when a recorded object changed or vanished meanwhile (what
    was copied before then is overwritten by the run that follows).
    """
    by_name: Mapping[str, RecordedOutput] = {output.name: output for output in record.outputs}
    copied = []
    for output in plan.outputs:
        earlier = by_name.get(output.name)
        if earlier is None:
            raise ResultGoneError(f"the record has no output {output.name!r}")
        target = destination(output, single=earlier.single)
        if target == earlier.location:
            continue
        for item in earlier.objects:
            source = earlier.location + item.relpath if not earlier.single else earlier.location
            to = target + item.relpath if not earlier.single else target
            _copy(source, to, item, s3_client=s3_client, s3=s3)
        copied.append(target)
    if copied and not still_there(record, s3=s3):
        raise ResultGoneError("a recorded output changed while it was copied")
    return copied


def _copy(source: str, to: str, item: ObjectIdentity, *, s3_client: Any, s3: S3Access) -> None:
    if source.startswith("s3://") and to.startswith("s3://"):
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        from_bucket, _, from_key = source.removeprefix("s3://").partition("/")
        bucket, _, key = to.removeprefix("s3://").partition("/")
        extra = {"CopySourceIfMatch": f'"{item.etag}"'} if item.etag else {}
        try:
            s3_client.copy({"Bucket": from_bucket, "Key": from_key}, bucket, key, ExtraArgs=extra)
        except Exception as exc:
            raise ResultGoneError(f"could not copy {source} to {to}: {exc}") from exc
        return
    result = sync(SyncRequest(source=source, destination=to), s3=s3)
    if result.failed:
        raise ResultGoneError(f"could not copy {source} to {to}: {'; '.join(result.errors)}")


def _path(uri: str) -> str:
    return os.path.normpath(uri.removeprefix("file://"))
