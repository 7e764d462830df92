"""What a valid request may still not do here: checks that depend on how it will be planned.

``spec.py`` decides whether a request makes sense on its own; this module decides whether it
can run with this configuration — which URI schemes the environment stages from (a deployed
environment must not let a request read the file system its steps share), and whether its
files would collide in the working dir once placed there, and whether the queue it goes to
has an instance big enough for it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import PurePosixPath

from runtime.documents import field_part
from runtime.plan.configuration import ContextConfiguration, QueueLimits
from runtime.spec import (
    PLATFORM_DIR,
    DemandExecution,
    InputBinding,
    OutputBinding,
    input_bindings,
    output_bindings,
    remote_name,
)

FIELD = "execution_parameters.params"


def admission_problems(
    spec: DemandExecution,
    *,
    allowed_schemes: Collection[str],
    isolate_inputs: bool,
    allowed_buckets: Collection[str] | None = None,
    mirror_outputs: bool = False,
) -> list[str]:
    """One line per reason the request cannot be planned with these settings."""
    inputs, outputs = input_bindings(spec), output_bindings(spec)
    problems = _mirror_problems(inputs, outputs) if mirror_outputs else []
    remotes = [(i.name, i.remote) for i in inputs] + [(o.name, o.remote) for o in outputs]
    for name, remote in remotes:
        scheme = remote.split("://", 1)[0]
        if scheme not in allowed_schemes:
            allowed = ", ".join(f"{s}://" for s in sorted(allowed_schemes))
            problems.append(
                f"{FIELD}{field_part(name)}: {scheme}:// locations are not allowed "
                f"here (allowed: {allowed})"
            )
        elif scheme == "s3" and allowed_buckets is not None:
            bucket = remote.removeprefix("s3://").partition("/")[0]
            if bucket not in allowed_buckets:
                problems.append(
                    f"{FIELD}{field_part(name)}: bucket {bucket!r} is not one this environment "
                    f"stages from or to (allowed: {', '.join(sorted(allowed_buckets))})"
                )
    # Where each file lands, relative to the working dir: outputs always, inputs when isolated.
    placed = [(o.name, PurePosixPath(o.local), "") for o in outputs]
    if isolate_inputs:
        # One input given twice lands once: the same source with the same filters.
        places = isolated_places(inputs, outputs)
        placed += [(i.name, places[i.name], _selection(i)) for i in inputs]
    return problems + _collisions(placed)


def isolated_places(
    inputs: Sequence[InputBinding], outputs: Sequence[OutputBinding]
) -> dict[str, PurePosixPath]:
    """Where each isolated input lands, relative to the working dir: its ``local``, else the
    object's own name — unless the request puts something else there (an output, a named input,
    another source of that name) or around it: then under ``.demand/inputs/<its selection's
    hash>/``, which no request can name, so a name the request did not choose never collides.
    (The established system names every such input at random, ``tmpXXXXXXXX``.)"""
    # Who is at each path, and who is below it: an owner is a selection (an unnamed input's:
    # the same source and filters twice is one input) or a unique mark (anything the request
    # placed itself). Linear in the number of parameters, for requests of thousands of inputs.
    at: dict[PurePosixPath, set[str]] = {}
    below: dict[PurePosixPath, set[str]] = {}

    def occupy(path: PurePosixPath, owner: str) -> None:
        at.setdefault(path, set()).add(owner)
        for parent in path.parents:
            below.setdefault(parent, set()).add(owner)

    for index, output in enumerate(outputs):
        occupy(PurePosixPath(output.local), f"\0output {index}")
    places: dict[str, PurePosixPath] = {}
    unnamed: list[tuple[str, PurePosixPath, str]] = []
    for index, binding in enumerate(inputs):
        if binding.local:
            places[binding.name] = PurePosixPath(binding.local)
            occupy(places[binding.name], f"\0input {index}")
        else:
            own = PurePosixPath(remote_name(binding.remote))
            unnamed.append((binding.name, own, _selection(binding)))
            occupy(own, _selection(binding))
    for name, own, selection in unnamed:
        mine = {selection}
        crowded = (
            bool(at[own] - mine)
            or bool(below.get(own, set()) - mine)
            or any(at.get(parent, mine) - mine for parent in own.parents)
        )
        digest = hashlib.sha256(selection.encode("utf-8")).hexdigest()[:16]
        places[name] = PurePosixPath(PLATFORM_DIR, "inputs", digest, own) if crowded else own
    return places


def _selection(binding: InputBinding) -> str:
    return json.dumps([binding.remote, binding.include, binding.exclude])


def _tree(remote: str) -> str:
    # What a mirrored destination covers: the object and everything below it as a prefix.
    return remote.rstrip("/") + "/"


def _mirror_problems(inputs: list[InputBinding], outputs: list[OutputBinding]) -> list[str]:
    """Mirroring deletes, at an output's destination, whatever the job did not produce there:
    refused where that would reach further than the output's own files — a whole bucket, another
    output's destination (the stage-out transfers run at once, in any order) or an input."""
    problems = []
    for output in outputs:
        field = f"{FIELD}{field_part(output.name)}"
        bucket, _, key = output.remote.removeprefix("s3://").partition("/")
        if output.remote.startswith("s3://") and not key.strip("/"):
            problems.append(f"{field}: mirroring would empty bucket {bucket!r}; name a prefix")
            continue
        mine = _tree(output.remote)
        for other in outputs:
            theirs = _tree(other.remote)
            if other.name != output.name and theirs.startswith(mine):
                problems.append(
                    f"{field}: with mirroring, its destination may not contain "
                    f"{other.name!r}'s ({other.remote})"
                )
        for source in inputs:
            theirs = _tree(source.remote)
            if theirs.startswith(mine) or mine.startswith(theirs):
                problems.append(
                    f"{field}: with mirroring, its destination may not overlap input "
                    f"{source.name!r} ({source.remote})"
                )
    return problems


def job_queue(spec: DemandExecution, context: ContextConfiguration) -> str | None:
    """The queue the job goes to: the request's own, else the environment's GPU or default one."""
    batch = spec.execution_platform.aws_batch
    if batch and batch.job_queue_name:
        return batch.job_queue_name
    gpu = spec.resource_requirements.gpu
    return context.gpu_job_queue if gpu else context.default_job_queue


def resource_problems(
    spec: DemandExecution, queue: str | None, limits: Mapping[str, QueueLimits]
) -> list[str]:
    """One line per resource the largest instance of ``queue`` does not have (when known): such
    a job would never leave RUNNABLE."""
    limit = limits.get(queue) if queue is not None else None
    if limit is None:
        return []
    requested = spec.resource_requirements
    checks = [
        ("vcpus", requested.vcpus, limit.vcpus, "vCPUs"),
        ("memory", requested.memory, limit.memory, "MiB"),
        ("gpu", requested.gpu, limit.gpu, "GPUs"),
    ]
    return [
        f"resource_requirements.{name}: {wanted} exceeds the largest instance of queue "
        f"{queue} ({most} {unit})"
        for name, wanted, most, unit in checks
        if most is not None and wanted > most
    ]


def _collisions(placed: list[tuple[str, PurePosixPath, str]]) -> list[str]:
    """Two files at one path (unless one input given twice), or one file inside another."""
    owner: dict[PurePosixPath, tuple[str, str]] = {}
    problems = []
    for name, path, remote in placed:
        seen = owner.setdefault(path, (name, remote))
        if seen[0] != name and not (remote and seen[1] == remote):
            problems.append(f"{FIELD}{field_part(name)}: {path} is where {seen[0]!r} goes too")
    for name, path, _ in placed:
        for parent in path.parents:
            if parent in owner and owner[parent][0] != name:
                problems.append(f"{FIELD}{field_part(name)}: {path} is inside {owner[parent][0]!r}")
    return problems


OPTIONS = "execution_options"


def option_problems(spec: DemandExecution, context: ContextConfiguration) -> list[str]:
    """One line per execution option the request asks for beyond what this environment allows
    (a request never chooses ``privileged``: it is not an option)."""
    options = spec.execution_options
    problems = []
    if (
        options.isolate_inputs
        and not context.isolate_inputs
        and not context.requests_may_isolate_inputs
    ):
        problems.append(
            f"{OPTIONS}.isolate_inputs: this environment does not let a request isolate "
            "its inputs (requests_may_isolate_inputs is off)"
        )
    if (
        options.keep_working_dir_on_failure
        and not context.keep_working_dir_on_failure
        and not context.requests_may_keep_working_dir
    ):
        problems.append(
            f"{OPTIONS}.keep_working_dir_on_failure: this environment does not let a request "
            "keep its working dir (requests_may_keep_working_dir is off)"
        )
    if (
        options.timeout_seconds is not None
        and context.max_timeout_seconds is not None
        and options.timeout_seconds > context.max_timeout_seconds
    ):
        problems.append(
            f"{OPTIONS}.timeout_seconds: {options.timeout_seconds} exceeds this environment's "
            f"limit of {context.max_timeout_seconds} seconds"
        )
    if options.retry_attempts is not None and options.retry_attempts > context.max_retry_attempts:
        problems.append(
            f"{OPTIONS}.retry_attempts: {options.retry_attempts} exceeds this environment's "
            f"limit of {context.max_retry_attempts} attempts"
        )
    if options.reuse and not context.reuse:
        problems.append(
            f"{OPTIONS}.reuse: this environment does not reuse results (its reuse setting is off)"
        )
    return problems


def with_options(spec: DemandExecution, context: ContextConfiguration) -> ContextConfiguration:
    """``context`` with the request's own execution options (checked by :func:`option_problems`)
    in place of the environment's settings."""
    chosen = {
        name: value
        for name, value in spec.execution_options.model_dump().items()
        if value is not None
    }
    if not chosen:
        return context
    return ContextConfiguration.model_validate(context.model_dump() | chosen)
