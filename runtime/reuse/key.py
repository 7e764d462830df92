"""The reuse key: a hash of everything that determines an execution's result, and nothing else.

Pure: no AWS, no file system. What the key covers (docs/reuse.md):

- the image, by digest only. A tag names whatever was pushed last, so a request whose image is
  given by tag alone (``bash:5.2``, not ``bash@sha256:…``) is *not reusable*: a changed image
  behind the same tag is never served a stale result;
- the job as the plan runs it — the ``/bin/bash -c`` script (the command with its arguments
  and references), the environment (every resolved parameter), the env file — planned under
  one fixed execution id, so that two requests differing only in their ids share a key;
- each input: its location, filters, where the job sees it, and every object a sync of it
  takes, with its size and ETag (S3) or size, modification and change times and inode (a file);
- the output layout: each output's name, where the job writes it and its filters. Not where
  it goes: a hit copies the earlier outputs to the new destinations;
- the runner kind (a local process does not run the image at all).

Resources, queue, role, tags and metadata are not covered: they decide where and how fast a job
runs, not what it writes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from runtime.plan.builder import build_plan
from runtime.plan.configuration import ContextConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.spec import DemandExecution
from runtime.volumes import VolumeConfiguration

# Bumped whenever what the key covers changes: records under an older scheme are then misses.
KEY_VERSION = 1
KEY_PATTERN = r"^v[0-9]+-[0-9a-f]{64}$"
# Every request's key is computed from its plan under this id, not its own.
CANONICAL_EXECUTION_ID = "reuse-key"
DIGEST = re.compile(r"@(?P<digest>sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ObjectIdentity(_Frozen):
    """One object or file as the sync engine lists it: what changes whenever its content does."""

    relpath: str = Field(max_length=4096)
    size: int = Field(ge=0)
    etag: str | None = Field(default=None, max_length=1024)  # S3
    # Files: a job or a user can restore a file's mtime, not its ctime nor, after replacing
    # it, its inode.
    mtime_ns: int | None = None
    ctime_ns: int | None = None
    ino: int | None = None


class InputIdentity(_Frozen):
    name: str
    remote: str
    container_path: str
    filters: tuple[tuple[str, str], ...]
    single: bool
    objects: tuple[ObjectIdentity, ...]


class OutputLayout(_Frozen):
    name: str
    container_path: str
    filters: tuple[tuple[str, str], ...]


class KeyMaterial(_Frozen):
    """Everything the key is a hash of (``demand plan --json``'s reuse section shows the key)."""

    image_digest: str
    runner: str
    command: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    env_file: str | None
    inputs: tuple[InputIdentity, ...]
    outputs: tuple[OutputLayout, ...]


def reuse_key(material: KeyMaterial) -> str:
    """``v<KEY_VERSION>-<sha256 of the material's canonical JSON>``."""
    text = json.dumps(material.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return f"v{KEY_VERSION}-{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def image_digest(image: str) -> str | None:
    """The digest an image reference pins (``name@sha256:…``), or None for a tag alone."""
    match = DIGEST.search(image)
    return match["digest"] if match else None


def canonical_plan(
    spec: DemandExecution, volumes: VolumeConfiguration, context: ContextConfiguration
) -> ExecutionPlan:
    """The request's plan as any execution id would have it (under one fixed id)."""
    return build_plan(
        spec.model_copy(update={"execution_id": CANONICAL_EXECUTION_ID}), volumes, context
    )


def key_material(
    plan: ExecutionPlan,
    *,
    digest: str,
    runner: str,
    listings: Mapping[str, tuple[bool, Sequence[ObjectIdentity]]],
) -> KeyMaterial:
    """The material of a canonical ``plan``; ``listings`` maps each stage-in destination (an
    input's ``efs_uri``) to whether its source is a single object and the objects a sync of it
    takes."""
    filters = {request.destination: request.filters for request in plan.stage_in}
    out_filters = {request.source: request.filters for request in plan.stage_out}
    inputs = []
    for planned in plan.inputs:
        single, objects = listings[planned.efs_uri]
        inputs.append(
            InputIdentity(
                name=planned.name,
                remote=planned.remote,
                container_path=planned.container_path,
                filters=filters.get(planned.efs_uri, ()),
                single=single,
                objects=tuple(objects),
            )
        )
    job = plan.job
    return KeyMaterial(
        image_digest=digest,
        runner=runner,
        command=tuple(job.command),
        environment=tuple(sorted(job.environment.items())),
        env_file=job.env_file.content if job.env_file else None,
        inputs=tuple(inputs),
        outputs=tuple(
            OutputLayout(
                name=out.name,
                container_path=out.container_path,
                filters=out_filters.get(out.efs_uri, ()),
            )
            for out in plan.outputs
        ),
    )


def without_reuse(spec: DemandExecution) -> DemandExecution:
    """``spec`` asking not to be reused (``--no-reuse``)."""
    options = spec.execution_options.model_copy(update={"reuse": False})
    return spec.model_copy(update={"execution_options": options})


def reuse_refusal(spec: DemandExecution, context: ContextConfiguration) -> str | None:
    """Why this request's result is not to be reused here (None: it may be)."""
    if not context.reuse:
        return "reuse is off in this environment"
    if spec.execution_options.reuse is False:
        return "the request turns reuse off (execution_options.reuse)"
    if image_digest(spec.execution_image) is None:
        return (
            f"the image {spec.execution_image} is not pinned by digest (name@sha256:…): "
            "a tag may name another image by now"
        )
    if context.mirror_outputs:
        return "outputs are mirrored (mirror_outputs): a copy would not delete what a run would"
    if not spec.execution_parameters.outputs:
        return "the request has no outputs: there is no result to reuse"
    return None
