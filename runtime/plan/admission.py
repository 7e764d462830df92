"""What a valid request may still not do here: checks that depend on how it will be planned.

``spec.py`` decides whether a request makes sense on its own; this module decides whether it
can run with this configuration — which URI schemes the environment stages from (a deployed
environment must not let a request read the file system its steps share), and whether its
files would collide in the working dir once placed there.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import PurePosixPath

from runtime.documents import field_part
from runtime.spec import DemandExecution, input_bindings, output_bindings, remote_name

FIELD = "execution_parameters.params"


def admission_problems(
    spec: DemandExecution, *, allowed_schemes: Collection[str], isolate_inputs: bool
) -> list[str]:
    """One line per reason the request cannot be planned with these settings."""
    inputs, outputs = input_bindings(spec), output_bindings(spec)
    problems = []
    remotes = [(i.name, i.remote) for i in inputs] + [(o.name, o.remote) for o in outputs]
    for name, remote in remotes:
        scheme = remote.split("://", 1)[0]
        if scheme not in allowed_schemes:
            allowed = ", ".join(f"{s}://" for s in sorted(allowed_schemes))
            problems.append(
                f"{FIELD}{field_part(name)}: {scheme}:// locations are not allowed "
                f"here (allowed: {allowed})"
            )
    # Where each file lands, relative to the working dir: outputs always, inputs when isolated.
    placed = [(o.name, PurePosixPath(o.local), "") for o in outputs]
    if isolate_inputs:
        placed += [
            (i.name, PurePosixPath(i.local or remote_name(i.remote)), i.remote) for i in inputs
        ]
    return problems + _collisions(placed)


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
