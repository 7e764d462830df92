"""Running the job itself on this machine: as a local process, or in a local container."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from runtime.errors import DemandError
from runtime.plan.models import ExecutionPlan
from runtime.spec import PLATFORM_DIR
from runtime.volumes import EfsMount, efs_to_local

RunnerName = Literal["process", "docker"]

# What a local process inherits from the user's environment besides the plan's variables:
# enough to find programs and behave normally. (A container would get its image's instead.)
INHERITED = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM")


class RunnerUnavailableError(DemandError):
    """The chosen runner cannot run here (e.g. no Docker engine)."""


class JobLauncher(Protocol):
    """Starts the job of a plan and waits for it: as a local process or in a container."""

    in_container: bool

    def check(self) -> None: ...

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int: ...


class ProcessLauncher:
    """The job's command as a child process, with the plan's environment."""

    in_container = False

    def check(self) -> None:
        if shutil.which("bash") is None:
            raise RunnerUnavailableError("bash is not on PATH: the job script needs it")

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int:
        inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
        return stream(plan.job.command, inherited | plan.job.environment, log)


class DockerLauncher:
    """The job's image under a local Docker engine, the volumes bind-mounted at their paths."""

    in_container = True

    def check(self) -> None:
        if shutil.which("docker") is None:
            raise RunnerUnavailableError("docker is not installed: use --runner process")
        probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
        if probe.returncode != 0:
            raise RunnerUnavailableError(
                "no Docker engine is reachable ('docker info' failed): start one, "
                "or use --runner process"
            )

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int:
        command = ["docker", "run", "--rm", "--workdir", plan.working_dir.container_path]
        for volume in plan.volumes:
            source = efs_to_local(volume.efs_uri(), mounts)
            suffix = ":ro" if volume.read_only else ""
            command += ["--volume", f"{source}:{volume.container_path}{suffix}"]
        for name in plan.job.environment:
            command += ["--env", name]  # values come from our environment, not the command line
        if plan.job.resources.gpu:
            command += ["--gpus", str(plan.job.resources.gpu)]
        command += [
            f"--cpus={plan.job.resources.vcpus}",
            f"--memory={plan.job.resources.memory}m",
            plan.job.image,
            *plan.job.command,
        ]
        return stream(command, dict(os.environ) | plan.job.environment, log)


def launcher_named(name: RunnerName) -> JobLauncher:
    """The launcher that ``demand run --runner NAME`` chooses."""
    return DockerLauncher() if name == "docker" else ProcessLauncher()


def stream(command: list[str], environment: dict[str, str], log: BinaryIO) -> int:
    """Run ``command``; copy its output (stdout and stderr, merged) to our stdout and ``log``."""
    with subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        assert process.stdout is not None
        try:
            for line in iter(process.stdout.readline, b""):
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()
                log.write(line)
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
        code = process.wait()
        # Killed by a signal: report it as a shell would (SIGKILL → 137), not as -9.
        return 128 - code if code < 0 else code


def log_path(plan: ExecutionPlan, mounts: Sequence[EfsMount]) -> Path:
    return efs_to_local(plan.working_dir.efs_uri, mounts) / PLATFORM_DIR / "job.log"
