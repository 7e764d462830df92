"""The job launchers: what a sandboxed job is given (env file, tmp volume) and what a container
is given (its own dirs only)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.local import sandbox
from runtime.local.jobs import ProcessLauncher, docker_command, guarded
from runtime.local.root import LocalRoot
from runtime.local.runner import LocalRun, RunReport
from runtime.plan.builder import build_plan
from runtime.plan.configuration import (
    ContextConfiguration,
    PlanningConfiguration,
)
from runtime.plan.job_environment import EnvFileMode
from runtime.spec import parse_spec
from runtime.volumes import VolumeConfiguration
from tests.runtime.local.specs import script_spec


def run(root: Path, spec: dict[str, Any], configuration: PlanningConfiguration) -> RunReport:
    launcher = ProcessLauncher(sandbox="bubblewrap")
    return LocalRun(
        spec=parse_spec(spec), root=LocalRoot(root), launcher=launcher, configuration=configuration
    ).execute()


@pytest.fixture
def bubblewrap() -> None:
    reason = sandbox.unavailable_reason()
    if reason is not None:
        pytest.skip(f"bubblewrap cannot run here: {reason}")


@pytest.mark.usefixtures("bubblewrap")
def test_a_sandboxed_job_reads_its_env_file(tmp_path: Path) -> None:
    configuration = PlanningConfiguration(
        context=ContextConfiguration(env_file_mode=EnvFileMode.ALWAYS)
    )
    spec = script_spec("env-file", 'echo "greeting=$GREETING"', greeting="hello")
    report = run(tmp_path, spec, configuration)
    assert report.status == "SUCCEEDED", report
    assert report.log_file is not None
    assert Path(report.log_file).read_text() == "greeting=hello\n"


@pytest.mark.usefixtures("bubblewrap")
def test_a_sandboxed_job_has_its_tmp_dir_on_a_tmp_volume_and_no_other(tmp_path: Path) -> None:
    configuration = PlanningConfiguration(volumes=VolumeConfiguration(use_tmp_volume=True))
    other = tmp_path / "tmp/someone-else"
    other.mkdir(parents=True)
    (other / "secret").write_text("not yours\n")
    script = 'echo x > "$TMPDIR/mine" && cat "$TMPDIR/mine" && ls -A "$TMPDIR/.."'
    report = run(tmp_path, script_spec("tmp-volume", script), configuration)
    assert report.status == "SUCCEEDED", report
    assert report.log_file is not None
    assert Path(report.log_file).read_text() == "x\ntmp-volume\n"


def test_a_container_mounts_only_its_own_dirs_and_inputs(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("data\n")
    root = LocalRoot(tmp_path / "root")
    volumes = root.volumes(in_container=True, base=VolumeConfiguration())
    spec = parse_spec(script_spec("boxed", 'cat "$DATA"', data=f"file://{tmp_path}/data.txt"))
    plan = build_plan(spec, volumes)
    command = docker_command(plan, root.mounts())
    mounts = [command[i + 1] for i, word in enumerate(command) if word in ("--volume", "--mount")]
    local = tmp_path / "root"
    cached = plan.inputs[0].container_path
    assert mounts == [
        f"{local}/scratch/boxed:/opt/efs/scratch/boxed",
        "type=tmpfs,destination=/opt/efs/scratch/boxed/.demand",
        f"{local}/scratch/boxed/.demand/tmp:/opt/efs/scratch/boxed/.demand/tmp",
        f"{local}{cached.removeprefix('/opt/efs')}:{cached}:ro",
    ]


def test_the_guard_runs_its_stop_command_then_kills_its_whole_group(tmp_path: Path) -> None:
    started, stopped = tmp_path / "started", tmp_path / "stopped"
    job = f"touch {started}; sleep 300 & sleep 300; wait"
    guard = subprocess.Popen(
        guarded(["bash", "-c", job], stop=["touch", str(stopped)]), start_new_session=True
    )
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline, "the job never started"
        assert guard.poll() is None, "the guard ended before its job started"
        time.sleep(0.02)
    guard.send_signal(signal.SIGTERM)
    assert guard.wait(timeout=30) == -signal.SIGKILL  # it took itself down with its group
    assert stopped.exists()
    deadline = time.monotonic() + 10
    while (left := live_members(guard.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, "processes of the job's group outlived it"


def live_members(group: int) -> list[int]:
    """The processes of a process group that are not zombies (killed, not yet reaped)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_the_guard_exits_as_its_job_did(tmp_path: Path) -> None:
    assert subprocess.run(guarded(["bash", "-c", "exit 7"]), check=False).returncode == 7
    killed = subprocess.run(guarded(["bash", "-c", "kill -TERM $$"]), check=False)
    assert killed.returncode == 128 + signal.SIGTERM
    usage = subprocess.run(guarded([]), capture_output=True, check=False)
    assert usage.returncode == 2
