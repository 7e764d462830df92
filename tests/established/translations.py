"""The differences between the established plan and ours that our design makes ON PURPOSE, each
written down once, with why. The differential test (test_differential.py) applies them to the
established system's output and then expects ours exactly; docs/migrating.md refers here.

Anything else that differs is a bug in ours.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from runtime.plan.admission import isolated_places
from runtime.plan.builder import established_filters, shared_cache_key
from runtime.plan.models import ExecutionPlan
from runtime.spec import input_bindings, output_bindings, parse_spec, remote_name

SHARED = PurePosixPath("/opt/efs/shared")

# Variables the established job builder adds from its deployment (its env base and the region
# of the Lambda that built the job). Ours names no env base; the job's region comes from Batch.
ESTABLISHED_DEPLOYMENT_VARIABLES = frozenset({"ENV_BASE", "AWS_REGION"})

_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
# how our job script writes a reference: a double-quoted expansion
_OUR_REFERENCE = re.compile(r'"\$\{(\w+)\}"')


def shared_input_path(established: str, remote: str, include: list[str], exclude: list[str]) -> str:
    """Shared-cache path. Established: ``<shared>/sha256(remote)``, the same directory whatever
    the filters (its OCSDV-452: a filtered request can be served another's selection) and the
    object's name lost (tools that read a format from the suffix fail). Ours: the key includes
    the filters, and the object keeps its name under it."""
    expected = SHARED / hashlib.sha256(remote.encode()).hexdigest()
    assert established == str(expected), f"established shared path {established} not as known"
    key = shared_cache_key(remote, established_filters(include, exclude))
    return str(SHARED / key / remote_name(remote))


def isolated_input_path(established: str, working: str, ours: PurePosixPath) -> str:
    """Isolated input given no ``local``: established names it ``tmpXXXXXXXX``, fresh at random
    each time the request is read (a retry or a re-plan stages it again under another name, and
    nothing a user reads says which); ours names it after the object, the same every time — or,
    when the request puts something else at that name, under ``.demand/inputs/<hash>/``
    (runtime.plan.admission.isolated_places)."""
    if re.fullmatch(re.escape(working) + r"/tmp[0-9a-z_]{8}", established):
        return f"{working}/{ours}"
    return established


def efs_uri(established: str) -> str:
    """Established EFS locations print as ``fs-id:/path``; ours are ``efs://fs-id:/path`` URIs,
    one spelling for every location a plan holds (the sync engine reads the scheme)."""
    return established if established.startswith("efs://") else f"efs://{established}"


def tmpdir(execution_id: str) -> str:
    """Established TMPDIR is ``<scratch>/tmp``, one directory every execution shares and nothing
    cleans; ours is the execution's own, removed with its working dir."""
    return f"/opt/efs/scratch/{execution_id}/.demand/tmp"


def argv(command_script: str, environment: Mapping[str, str]) -> list[str]:
    """The arguments the user's process receives.

    Established joins the arguments with spaces, unquoted, after ``... && cd ${WORKING_DIR} &&``:
    bash re-splits every value on whitespace and interprets any metacharacter in it, a bare
    ``$NAME`` included. Ours quotes every argument: only ``${NAME}`` expands, to one argument,
    never split or globbed; ``$NAME`` reaches the process as written. The compared requests keep
    to ``${NAME}`` references and arguments without whitespace or metacharacters, where the two
    must agree.
    """
    if "&& cd ${WORKING_DIR} && " in command_script:
        user = command_script.split("&& cd ${WORKING_DIR} && ", 1)[1]
        expanded = _REFERENCE.sub(lambda m: environment.get(m[1] or m[2], ""), user)
        return expanded.split()
    [line] = [line for line in command_script.splitlines() if line.startswith("exec ")]
    quoted = _OUR_REFERENCE.sub(lambda m: shlex.quote(environment[m[1]]), line)
    return shlex.split(quoted)[1:]


def resources(requirements: list[dict[str, str]]) -> list[dict[str, str]]:
    """Established lists ``GPU 0`` when a request says ``gpu: 0``; Batch treats it as none, and
    ours leaves it out. Order is not meaningful."""
    kept = [r for r in requirements if not (r["type"] == "GPU" and r["value"] == "0")]
    return sorted(kept, key=lambda r: r["type"])


# Not privileged: the established job definition is always privileged (its own TODO); a job
# that runs untrusted code gets no host devices here (docs/architecture.md, trust boundaries).
ESTABLISHED_PRIVILEGED = True

# Env-file size: the established code measures the environment with ``sys.getsizeof`` (Python
# object overhead, not bytes) against 90% of 8192; ours measures the real bytes of the container
# overrides against Batch's limit. The comparison therefore reads the whole environment — the
# direct variables and the env file's together — on both sides.


def _lists(filters: Any) -> list[list[str]]:
    return [list(rule) for rule in filters]


def our_view(plan: ExecutionPlan) -> dict[str, Any]:
    """Our plan in the comparison's terms."""
    environment = dict(plan.job.environment)
    if plan.job.env_file is not None:
        for line in plan.job.env_file.content.splitlines():
            name, _, value = line.partition("=")
            [environment[name]] = shlex.split(value) or [""]
    return {
        "argv": argv(plan.job.command[2], environment),
        "environment": environment,
        "inputs": {i.name: {"remote": i.remote, "path": i.container_path} for i in plan.inputs},
        "outputs": {o.name: {"remote": o.remote, "path": o.container_path} for o in plan.outputs},
        "resources": resources(plan.job.resources.to_batch()),
        "privileged": plan.job.privileged,
        "stage_in": [
            {"source": s.source, "destination": s.destination, "filters": _lists(s.filters)}
            for s in plan.stage_in
        ],
        "stage_out": [
            {"source": s.source, "destination": s.destination, "filters": _lists(s.filters)}
            for s in plan.stage_out
        ],
    }


def established_view(
    result: Mapping[str, Any], asked: Mapping[str, Any], isolate: bool
) -> dict[str, Any]:
    """The established plan in the comparison's terms (``asked``: the request both planned),
    every translation above applied."""
    execution_id = asked["execution_id"]
    spec = parse_spec(dict(asked))
    places = isolated_places(input_bindings(spec), output_bindings(spec))
    # "/shared/<established key>" -> "/shared/<our key>/<name>": in container paths and EFS
    # locations alike
    moved: dict[str, str] = {}
    inputs = {}
    filters_of = {}
    for request in result["stage_in"]:
        filters_of[request["source"]] = (request["include"], request["exclude"])
    for name, item in result["inputs"].items():
        path = item["path"]
        if isolate:
            ours = isolated_input_path(path, f"/opt/efs/scratch/{execution_id}", places[name])
        else:
            include, exclude = filters_of.get(item["remote"], ([], []))
            ours = shared_input_path(path, item["remote"], include, exclude)
        moved[path.removeprefix("/opt/efs")] = ours.removeprefix("/opt/efs")
        path = ours
        inputs[name] = {"remote": item["remote"], "path": path}

    def relocate(text: str) -> str:
        for old, new in moved.items():
            text = text.replace(old, new)
        return text

    environment = {
        name: relocate(value)
        for name, value in result["environment"].items()
        if name not in ESTABLISHED_DEPLOYMENT_VARIABLES
    }
    environment["TMPDIR"] = tmpdir(execution_id)

    def location(text: str) -> str:
        return text if text.startswith("s3://") else relocate(efs_uri(text))

    def sync(request: Mapping[str, Any]) -> dict[str, Any]:
        rules = established_filters(request["include"], request["exclude"])
        return {
            "source": location(request["source"]),
            "destination": location(request["destination"]),
            "filters": [list(rule) for rule in rules],
        }

    stage_in = []
    for request in map(sync, result["stage_in"]):
        # Two parameters naming one remote: the established stages it twice into the same
        # directory (racing itself); ours transfers it once.
        if request not in stage_in:
            stage_in.append(request)

    assert result["privileged"] is ESTABLISHED_PRIVILEGED
    return {
        "argv": argv(result["command"][2], environment),
        "environment": environment,
        "inputs": inputs,
        "outputs": result["outputs"],
        "resources": resources(result["resources"]),
        "privileged": False,
        "stage_in": stage_in,
        "stage_out": [sync(r) for r in result["stage_out"]],
    }


def collides(result: Mapping[str, Any]) -> bool:
    """Two parameters placed at one path: established accepts it (one overwrites the other, or
    an input is staged where an output is written); ours refuses it, one line naming both."""
    places = [item["path"] for item in (*result["inputs"].values(), *result["outputs"].values())]
    shared = [p for p in places if p.startswith(str(SHARED))]
    own = [p for p in places if not p.startswith(str(SHARED))]
    return len(set(own)) < len(own) or any(
        a != b and b.startswith(a + "/") for a in own for b in own + shared
    )
