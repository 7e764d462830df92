"""Running the job itself on this machine: as a local process, or in a local container.

Either way the job runs under a guard (``runtime/local/guard.py``) that leads a process group of
its own: the job never outlives the runner — a runner killed with SIGKILL included — and a
runner that stops on a signal takes the whole group down before it cleans up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from runtime.errors import DemandError
from runtime.local import guard
from runtime.local.sandbox import (
    SANDBOX_VARIABLE,
    Sandbox,
    SandboxMode,
    choose_sandbox,
    fallback_warning,
)
from runtime.plan.models import ExecutionPlan
from runtime.spec import PLATFORM_DIR
from runtime.volumes import EfsMount, container_to_efs, efs_to_local

RunnerName = Literal["process", "docker"]

# What a local process inherits from the user's environment besides the plan's variables:
# enough to find programs and behave normally. (A container would get its image's instead.)
INHERITED = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM")
DOCKER = "docker"
# How long the guard may take to stop a job (a container's stop included) before SIGKILL.
STOP_SECONDS = 30


class RunnerUnavailableError(DemandError):
    """The chosen runner cannot run here (e.g. no Docker engine)."""


class JobLauncher(Protocol):
    """Starts the job of a plan and waits for it: as a local process or in a container."""

    in_container: bool

    def check(self) -> str:
        """Refuse early when the job cannot run here; say how the job will be isolated."""
        ...

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int: ...


@dataclass
class ProcessLauncher:
    """The job's command as a child process, with the plan's environment, in the sandbox
    (:mod:`runtime.local.sandbox`) where the machine allows one.

    ``sandbox``: ``auto``, ``bubblewrap`` or ``none``; None reads ``DEMAND_SANDBOX``.
    """

    sandbox: SandboxMode | None = None
    in_container = False
    _chosen: Sandbox | None = field(default=None, init=False, repr=False)

    def check(self) -> str:
        if shutil.which("bash") is None:
            raise RunnerUnavailableError("bash is not on PATH: the job script needs it")
        self._chosen = chosen = self._choose()
        if chosen.fallback:
            print(fallback_warning(chosen), file=sys.stderr, flush=True)
        return chosen.description

    def _choose(self) -> Sandbox:
        environ = dict(os.environ)
        if self.sandbox is not None:
            environ[SANDBOX_VARIABLE] = self.sandbox
        return choose_sandbox(environ)

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int:
        inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
        chosen = self._chosen or self._choose()
        command = chosen.command(plan, mounts, plan.job.command, home=inherited.get("HOME"))
        return stream(command, inherited | plan.job.environment, log)


class DockerLauncher:
    """The job's image under a local Docker engine, its own dirs bind-mounted at their paths."""

    in_container = True

    def check(self) -> str:
        if shutil.which("docker") is None:
            raise RunnerUnavailableError("docker is not installed: use --runner process")
        probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
        if probe.returncode != 0:
            raise RunnerUnavailableError(
                "no Docker engine is reachable ('docker info' failed): start one, "
                "or use --runner process"
            )
        return DOCKER

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int:
        # Killing `docker run` would leave the container running: the guard kills it by name.
        name = f"demand-{plan.execution_id}-{os.getpid()}"
        command = docker_command(plan, mounts, name=name)
        environment = dict(os.environ) | plan.job.environment
        return stream(command, environment, log, stop=["docker", "kill", name])


def docker_command(
    plan: ExecutionPlan, mounts: Sequence[EfsMount], name: str | None = None
) -> list[str]:
    """``docker run`` for the job: as in the sandbox, the container sees its working and tmp
    dirs read-write and its own cached inputs read-only — no other execution, no control files.
    """

    def local(uri: str) -> Path:
        return efs_to_local(uri, mounts)

    working = plan.working_dir.container_path
    command = ["docker", "run", "--rm", "--workdir", working]
    if name is not None:
        command += ["--name", name]
    command += ["--volume", f"{local(plan.working_dir.efs_uri)}:{working}"]
    command += ["--mount", f"type=tmpfs,destination={Path(working, PLATFORM_DIR)}"]
    command += ["--volume", f"{local(plan.tmp_dir.efs_uri)}:{plan.tmp_dir.container_path}"]
    if plan.job.env_file is not None:
        path = plan.job.env_file.path
        source = local(str(container_to_efs(path, plan.volumes)))
        command += ["--volume", f"{source}:{path}:ro"]
    for planned in plan.inputs:
        if planned.shared:
            command += ["--volume", f"{local(planned.efs_uri)}:{planned.container_path}:ro"]
    for variable in plan.job.environment:
        command += ["--env", variable]  # values come from our environment, not the command line
    if plan.job.resources.gpu:
        command += ["--gpus", str(plan.job.resources.gpu)]
    return [
        *command,
        f"--cpus={plan.job.resources.vcpus}",
        f"--memory={plan.job.resources.memory}m",
        plan.job.image,
        *plan.job.command,
    ]


def launcher_named(name: RunnerName) -> JobLauncher:
    """The launcher that ``demand run --runner NAME`` chooses."""
    return DockerLauncher() if name == "docker" else ProcessLauncher()


def guarded(command: Sequence[str], stop: Sequence[str] = ()) -> list[str]:
    """``command`` under the guard: a plain script, so nothing but the standard library runs."""
    stopping = [word for part in stop for word in ("--stop", part)]
    return [sys.executable, "-I", "-S", guard.__file__, str(os.getpid()), *stopping, "--", *command]


def stream(
    command: list[str], environment: dict[str, str], log: BinaryIO, stop: Sequence[str] = ()
) -> int:
    """Run ``command`` guarded, in a session of its own; copy its output (stdout and stderr,
    merged) to our stdout and ``log``. Any exception here (a signal's included) takes the job
    down — ``stop``, then its whole process group — before it goes on."""
    with subprocess.Popen(
        guarded(command, stop),
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    ) as process:
        assert process.stdout is not None
        try:
            for line in iter(process.stdout.readline, b""):
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()
                log.write(line)
        except BaseException:
            take_down(process)
            raise
        code = process.wait()
        # Killed by a signal: report it as a shell would (SIGKILL → 137), not as -9.
        return 128 - code if code < 0 else code


def take_down(process: subprocess.Popen[bytes]) -> None:
    """Have the guard stop the job (SIGTERM: its stop command, then its group); after
    :data:`STOP_SECONDS`, or if it is gone already, SIGKILL what is left of the group."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    # Wait without reaping: while the guard is a zombie, its process group id stays its own.
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def log_path(plan: ExecutionPlan, mounts: Sequence[EfsMount]) -> Path:
    return efs_to_local(plan.working_dir.efs_uri, mounts) / PLATFORM_DIR / "job.log"
