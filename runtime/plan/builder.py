"""``build_plan(spec, volumes, context)``: a validated request becomes its ExecutionPlan.

Pure: no AWS, no file system. The state machine, the local runner and ``demand plan`` read only
the plan it returns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from runtime import contract
from runtime.errors import SpecError
from runtime.plan.admission import (
    admission_problems,
    isolated_places,
    job_queue,
    option_problems,
    resource_problems,
    with_options,
)
from runtime.plan.configuration import ContextConfiguration
from runtime.plan.job_environment import split_environment
from runtime.plan.models import (
    CleanupRequest,
    EnvFile,
    ExecutionPlan,
    JobPlan,
    JobVolume,
    MountPoint,
    PathRef,
    PlannedInput,
    PlannedOutput,
    Resources,
    RetryRule,
)
from runtime.plan.script import env_file_content, job_script, referenced_names
from runtime.spec import (
    PLATFORM_DIR,
    DemandExecution,
    InputBinding,
    env_name,
    input_bindings,
    output_bindings,
    param_texts,
    remote_name,
)
from runtime.sync.model import SyncRequest
from runtime.volumes import Volume, VolumeConfiguration, container_to_efs

# One sync filter: (kind, pattern), as runtime.sync.filters reads it.
FilterRule = tuple[str, str]


def shared_cache_key(remote: str, filters: Sequence[Sequence[str]] = ()) -> str:
    """The cache directory of a remote input: a hash of its URI — and of its filters, when it
    has any, so that an entry holding one selection is never served as another — the same for
    every execution that asks for that selection."""
    text = remote if not filters else json.dumps([remote, [list(rule) for rule in filters]])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def established_filters(include: Sequence[str], exclude: Sequence[str]) -> tuple[FilterRule, ...]:
    """A request's per-input / per-output regular expressions as the sync engine's rules.

    The engine's rules are ordered, the last match winning; the established meaning (a path is
    taken when it matches some include, or none are given, and no exclude) is: with includes,
    first exclude everything, then the includes, then the excludes.
    """
    rules: list[FilterRule] = []
    if include:
        rules.append(("exclude_regex", "(?s:.*)"))
        rules += [("include_regex", pattern) for pattern in include]
    rules += [("exclude_regex", pattern) for pattern in exclude]
    return tuple(rules)


@dataclass(frozen=True)
class _Layout:
    """Where one execution's files go, in the container's view."""

    volumes: VolumeConfiguration
    context: ContextConfiguration
    working: PurePosixPath
    tmp: PurePosixPath

    def ref(self, container_path: PurePosixPath) -> PathRef:
        efs = container_to_efs(str(container_path), self.volumes.volumes())
        return PathRef(container_path=str(container_path), efs_uri=str(efs))


def build_plan(
    spec: DemandExecution,
    volumes: VolumeConfiguration | None = None,
    context: ContextConfiguration | None = None,
) -> ExecutionPlan:
    """Turn a validated request into its plan. Pure: the same arguments give the same plan."""
    volumes = volumes or VolumeConfiguration()
    context = context or ContextConfiguration()
    # Every problem at once; the request's own options count once they are within limits.
    problems = option_problems(spec, context)
    if not problems:
        context = with_options(spec, context)
    problems += admission_problems(
        spec,
        allowed_schemes=context.allowed_schemes,
        isolate_inputs=context.isolate_inputs,
        allowed_buckets=context.allowed_buckets,
        mirror_outputs=context.mirror_outputs,
    )
    problems += resource_problems(spec, job_queue(spec, context), context.queue_limits)
    if problems:
        raise SpecError(problems)
    working = PurePosixPath(volumes.scratch.container_path, spec.execution_id)
    tmp_volume = volumes.tmp
    # Each execution gets its own TMPDIR, cleaned with it.
    tmp = (
        PurePosixPath(tmp_volume.container_path, spec.execution_id)
        if tmp_volume is not None
        else working / PLATFORM_DIR / "tmp"
    )
    layout = _Layout(volumes=volumes, context=context, working=working, tmp=tmp)
    ref = layout.ref

    input_filters = {
        b.name: established_filters(b.include, b.exclude) for b in input_bindings(spec)
    }
    places = isolated_places(input_bindings(spec), output_bindings(spec))
    inputs = [
        _planned_input(binding, input_filters[binding.name], layout, places[binding.name])
        for binding in input_bindings(spec)
    ]
    output_filters = {}
    outputs = []
    for binding in output_bindings(spec):
        output_filters[binding.name] = established_filters(binding.include, binding.exclude)
        outputs.append(
            PlannedOutput(
                name=binding.name,
                env_name=binding.env_name,
                remote=binding.remote,
                **ref(working / binding.local).model_dump(),
            )
        )
    job = _job_plan(spec, layout, inputs, outputs)

    stage_in: dict[tuple[str, str], SyncRequest] = {}
    for planned in inputs:
        # Two parameters naming one remote (with the same filters) share one cache path and
        # one transfer.
        stage_in.setdefault(
            (planned.remote, planned.efs_uri),
            SyncRequest(
                source=planned.remote,
                destination=planned.efs_uri,
                filters=input_filters[planned.name],
                # The engine's cache records S3 listings; a local file is simply copied.
                cached=planned.shared and planned.remote.startswith("s3://"),
            ),
        )
    stage_out = [
        SyncRequest(
            source=out.efs_uri,
            destination=out.remote,
            filters=output_filters[out.name],
            delete=context.mirror_outputs,
        )
        for out in outputs
    ]

    return ExecutionPlan(
        execution_id=spec.execution_id,
        execution_type=spec.execution_type,
        volumes=volumes.volumes(),
        working_dir=ref(working),
        tmp_dir=ref(tmp),
        inputs=inputs,
        outputs=outputs,
        job=job,
        stage_in=list(stage_in.values()),
        stage_out=stage_out,
        cleanup=_cleanup_requests(context, ref(working), ref(tmp), tmp_volume, inputs),
    )


def _planned_input(
    binding: InputBinding, filters: Sequence[FilterRule], layout: _Layout, place: PurePosixPath
) -> PlannedInput:
    remote = binding.remote
    if layout.context.isolate_inputs:
        path = layout.working / place
    else:
        # Keep the object's own name under the hash: tools often read a format from the suffix.
        path = PurePosixPath(
            layout.volumes.shared.container_path,
            shared_cache_key(remote, filters),
            remote_name(remote),
        )
    return PlannedInput(
        name=binding.name,
        env_name=binding.env_name,
        remote=remote,
        shared=not layout.context.isolate_inputs,
        **layout.ref(path).model_dump(),
    )


def _job_plan(
    spec: DemandExecution,
    layout: _Layout,
    inputs: list[PlannedInput],
    outputs: list[PlannedOutput],
) -> JobPlan:
    context, volumes, working, tmp = layout.context, layout.volumes, layout.working, layout.tmp
    params = spec.execution_parameters
    platform = {
        "EXECUTION_ID": spec.execution_id,
        "WORKING_DIR": str(working),
        "TMPDIR": str(tmp),
    }
    # A value referring to an input or output gets its path, as in the established system.
    paths = {i.name: i.container_path for i in inputs} | {o.name: o.container_path for o in outputs}
    by_param = param_texts(params, paths) | paths
    environment = platform | {
        env_name(name): by_param[name] for name in params.params if name in by_param
    }

    references = referenced_names(params.command)
    variable_for = {name: env_name(name) for name in references}
    env_file_path = str(working / PLATFORM_DIR / "env")

    def command(env_file: str | None) -> list[str]:
        script = job_script(
            params.command,
            variable_for,
            working_dir=str(working),
            tmp_dir=str(tmp),
            env_file=env_file,
        )
        return ["/bin/bash", "-c", script]

    requested = spec.resource_requirements
    resources = Resources(vcpus=requested.vcpus, memory=requested.memory, gpu=requested.gpu)
    direct, in_file = split_environment(
        environment,
        keep_direct=set(platform) | set(variable_for.values()),
        mode=context.env_file_mode,
        limit=context.env_size_limit,
        command_direct=command(None),
        command_with_file=command(env_file_path),
        resources=resources.to_batch(),
    )
    env_file = EnvFile(path=env_file_path, content=env_file_content(in_file)) if in_file else None

    batch = spec.execution_platform.aws_batch
    queue = job_queue(spec, context)
    # The environment's tags last: they decide who may stop the job (the request cannot set
    # demand: keys anyway).
    tags = spec.execution_metadata.tags | context.tags | {"demand:execution-id": spec.execution_id}
    if spec.execution_metadata.user:
        tags["demand:user"] = spec.execution_metadata.user

    # One definition per execution: its volumes are the execution's own directories. Named
    # after the execution, so cleanup can deregister it from the id alone.
    name = contract.execution_resource_name(context.name_prefix, spec.execution_id)
    return JobPlan(
        image=spec.execution_image,
        job_definition_name=name,
        job_name=name,
        job_queue=queue,
        job_role=(batch.job_role if batch and batch.job_role else context.default_job_role),
        command=command(env_file.path if env_file else None),
        environment=direct,
        env_file=env_file,
        resources=resources,
        mount_points=[_mount_point(v, spec.execution_id) for v in volumes.volumes()],
        volumes=[_job_volume(v, spec.execution_id) for v in volumes.volumes()],
        privileged=context.privileged,
        retry_attempts=context.retry_attempts,
        retry_rules=[
            # Spot reclamation and lost hosts are worth another attempt; the user's own
            # failure (any other reason, including a non-zero exit) is not.
            RetryRule(action="RETRY", on_status_reason="Host EC2*"),
            RetryRule(action="RETRY", on_reason="CannotPullContainerError*"),
            RetryRule(action="EXIT", on_reason="*"),
        ],
        timeout_seconds=context.timeout_seconds,
        tags=tags,
    )


def _own_dir(volume: Volume) -> bool:
    """Whether the job gets only its own directory of this volume (scratch and tmp), not all of
    it: another execution's files are never in its view. The shared cache is whole, read-only."""
    return not volume.read_only


def _mount_point(volume: Volume, execution_id: str) -> MountPoint:
    container = PurePosixPath(volume.container_path)
    return MountPoint(
        container_path=str(container / execution_id if _own_dir(volume) else container),
        source_volume=volume.name,
        read_only=volume.read_only,
    )


def _job_volume(volume: Volume, execution_id: str) -> JobVolume:
    if _own_dir(volume):
        # The execution's own access point is made by Prepare (it needs the id): none yet.
        return JobVolume(
            name=volume.name,
            file_system_id=volume.file_system_id,
            root_directory=str(PurePosixPath(volume.efs_path, execution_id)),
            access_point_id=None,
        )
    return JobVolume(
        name=volume.name,
        file_system_id=volume.file_system_id,
        root_directory=volume.efs_path,
        access_point_id=volume.access_point_id,
    )


def _cleanup_requests(
    context: ContextConfiguration,
    working: PathRef,
    tmp: PathRef,
    tmp_volume: Volume | None,
    inputs: list[PlannedInput],
) -> list[CleanupRequest]:
    on_failure = not context.keep_working_dir_on_failure
    requests: list[CleanupRequest] = []
    if context.cleanup_working_dir:
        requests.append(CleanupRequest(path=working.efs_uri, on_failure=on_failure))
        if tmp_volume is not None:
            requests.append(CleanupRequest(path=tmp.efs_uri, on_failure=on_failure))
    elif context.cleanup_inputs:
        requests += [
            CleanupRequest(path=planned.efs_uri, on_failure=on_failure)
            for planned in inputs
            if not planned.shared
        ]
    return requests
