"""The working dir of one execution on the file system: made before the job, removed after.

Both the Prepare step (a Lambda with EFS mounted) and the local runner call these, so the job
finds the same things in the same places wherever it runs. The stored plan goes to the
execution's control dir, which no job mounts: later steps read it, so no job may write it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from runtime.errors import PlanError
from runtime.plan.models import CleanupRequest, ExecutionPlan
from runtime.spec import PLATFORM_DIR
from runtime.steps.roots import ExecutionRoots, within
from runtime.volumes import (
    EfsMount,
    EfsUri,
    container_to_efs,
    efs_to_local,
)


def local_path(plan: ExecutionPlan, container_path: str, mounts: Sequence[EfsMount]) -> Path:
    """Where this process sees a path of the job's container."""
    return efs_to_local(container_to_efs(container_path, plan.volumes), mounts)


def prepare_working_dir(
    plan: ExecutionPlan, roots: ExecutionRoots, mounts: Sequence[EfsMount]
) -> Path:
    """Create the working and tmp dirs, write the env file and store the plan. Idempotent."""
    working = efs_to_local(plan.working_dir.efs_uri, mounts)
    (working / PLATFORM_DIR).mkdir(parents=True, exist_ok=True)
    efs_to_local(plan.tmp_dir.efs_uri, mounts).mkdir(parents=True, exist_ok=True)
    for output in plan.outputs:
        # The job can write "results/x.txt" without making "results" first.
        efs_to_local(output.efs_uri, mounts).parent.mkdir(parents=True, exist_ok=True)
    if plan.job.env_file is not None:
        write_atomically(
            local_path(plan, plan.job.env_file.path, mounts), plan.job.env_file.content
        )
    write_atomically(efs_to_local(roots.plan_file, mounts), plan.model_dump_json())
    return working


OWNER_FILE = "owner"


def claim_execution_dirs(roots: ExecutionRoots, mounts: Sequence[EfsMount], owner: str) -> None:
    """Claim the execution's dirs for ``owner`` (a Step Functions execution ARN), or refuse.

    The claim is a record in the control dir, made exclusively: a retried Prepare of the same
    execution finds its own and goes on; any other finds another's and is refused, and so is a
    first claim that finds a working dir already there (left by an earlier execution of that
    id, with whatever its job left in it).
    """
    control = efs_to_local(roots.control, mounts)
    control.mkdir(parents=True, exist_ok=True)
    record = control / OWNER_FILE
    if not os.path.lexists(record):
        for own in roots.own:
            if os.path.lexists(efs_to_local(own, mounts)):
                raise PlanError(
                    f"the working dir of {roots.execution_id} is left from an earlier "
                    f"execution: remove {own} or use another execution_id"
                )
    try:
        descriptor = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        claimed_by = record.read_text(encoding="utf-8", errors="replace")
        if claimed_by != owner:
            raise PlanError(
                f"the id {roots.execution_id} belongs to another execution ({claimed_by})"
            ) from None
        return
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(owner)


def read_plan(roots: ExecutionRoots, mounts: Sequence[EfsMount]) -> ExecutionPlan:
    """The full plan that :func:`prepare_working_dir` stored for this execution."""
    plan = ExecutionPlan.model_validate_json(efs_to_local(roots.plan_file, mounts).read_bytes())
    if plan.execution_id != roots.execution_id:
        raise PlanError(f"the stored plan of {roots.execution_id} is another execution's")
    return plan


def write_atomically(path: Path, content: str) -> None:
    """Write a whole file or nothing: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(content)
    os.replace(handle.name, path)


def clean_up(
    requests: Sequence[CleanupRequest],
    *,
    roots: Sequence[EfsUri],
    mounts: Sequence[EfsMount],
    succeeded: bool,
) -> list[str]:
    """Remove what the requests name, refusing anything outside ``roots``. Returns what went.

    Every request is checked before anything is removed, so a plan that points elsewhere
    removes nothing at all.
    """
    chosen = [r for r in requests if (r.on_success if succeeded else r.on_failure)]
    for request in chosen:
        target = EfsUri.parse(request.path)
        if not any(within(target, root) for root in roots):
            raise PlanError(
                f"cleanup refused: {request.path} is outside "
                + ", ".join(str(root) for root in roots)
            )
    local_roots = [_parent_resolved(efs_to_local(root, mounts)) for root in roots]
    removed = []
    for request in chosen:
        path = _checked_local_path(request.path, mounts, local_roots)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(request.path)
    return removed


def _checked_local_path(uri: str, mounts: Sequence[EfsMount], local_roots: list[Path]) -> Path:
    """The local path of ``uri``, its directories' symlinks resolved, still under a root.

    A job can leave symlinks in its working dir (``sub -> /opt/efs/shared``); removing
    ``sub/file`` must not follow them out. The last component itself is never followed: a
    symlink there is removed, not its target.
    """
    real = _parent_resolved(efs_to_local(uri, mounts))
    if not any(real == root or real.is_relative_to(root) for root in local_roots):
        raise PlanError(f"cleanup refused: {uri} leads outside the execution's dirs ({real})")
    return real


def _parent_resolved(path: Path) -> Path:
    return path.parent.resolve() / path.name
