"""``demand run`` killed or stopped while its job runs: the job goes with it, and the next run of
the same spec takes over what was left. Real ``demand run`` processes and real jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.local import sandbox
from runtime.local.jobs import ProcessLauncher
from runtime.local.root import LocalRoot
from runtime.local.runner import LocalRun
from runtime.spec import parse_spec

REPO = Path(__file__).parents[3]
SLEEPER = """\
execution_id: {execution_id}
execution_image: bash
execution_parameters:
  command:
    - bash
    - -c
    - |
      if [ "$(cat "$MODE")" = sleep ]; then
        echo $$ > "$TMPDIR/pid"
        touch "$WORKING_DIR/started"
        sleep 300
        echo "slept" > "$WORKING_DIR/late.txt"
      fi
      echo finished
  params:
    mode: file://mode.txt
  inputs: [mode]
"""


@pytest.fixture(params=["bubblewrap", "none"])
def sandboxing(request: pytest.FixtureRequest) -> str:
    if request.param == "bubblewrap":
        reason = sandbox.unavailable_reason()
        if reason is not None:
            pytest.skip(f"bubblewrap cannot run here: {reason}")
    return str(request.param)


class Sleeper:
    """A spec whose job sleeps while ``mode.txt`` says so, and a root to run it in."""

    def __init__(self, directory: Path, sandboxing: str) -> None:
        self.execution_id = f"sleeper-{uuid.uuid4().hex[:10]}"
        self.spec = directory / "sleeper.yaml"
        self.spec.write_text(SLEEPER.format(execution_id=self.execution_id))
        self.mode = directory / "mode.txt"
        self.mode.write_text("sleep\n")
        self.root = directory / "root"
        self.working = self.root / "scratch" / self.execution_id
        self.environment = os.environ | {"PYTHONPATH": str(REPO), "DEMAND_SANDBOX": sandboxing}
        self.command = [
            sys.executable,
            "-m",
            "runtime.cli.app",
            "run",
            str(self.spec),
            "--root",
            str(self.root),
        ]

    def start(self) -> subprocess.Popen[str]:
        runner = subprocess.Popen(
            self.command,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not (self.working / "started").exists():
            if runner.poll() is not None or time.monotonic() > deadline:
                runner.kill()
                out, err = runner.communicate()
                pytest.fail(f"the job never started:\n{out}\n{err}")
            time.sleep(0.05)
        assert self.job_processes(), "the job's processes are not to be found"
        return runner

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def job_processes(self) -> list[int]:
        """Every process of this execution's job (the guard, bwrap, bash, sleep): the ones
        with its EXECUTION_ID in their environment, in whatever PID namespace they run."""
        marker = f"EXECUTION_ID={self.execution_id}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environment = (entry / "environ").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker in environment and state != "Z":
                found.append(int(entry.name))
        return found

    def wait_until_the_job_is_gone(self, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while (left := self.job_processes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"the job outlived its runner: {left} {describe(left)}"


def describe(pids: list[int]) -> list[str]:
    names = []
    for pid in pids:
        try:
            names.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            names.append("?")
    return names


@pytest.fixture
def sleeper(tmp_path: Path, sandboxing: str) -> Iterator[Sleeper]:
    job = Sleeper(tmp_path, sandboxing)
    yield job
    for pid in job.job_processes():  # whatever a failed test left, never beyond this job
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_runner_killed_with_sigkill_takes_its_job_along(sleeper: Sleeper) -> None:
    runner = sleeper.start()
    runner.send_signal(signal.SIGKILL)
    runner.communicate(timeout=30)
    sleeper.wait_until_the_job_is_gone()
    assert (sleeper.working / "started").exists()  # left over: nothing could clean it up

    sleeper.mode.write_text("quick\n")
    again = sleeper.run()
    assert again.returncode == 0, again.stderr
    assert "finished" in again.stdout
    assert "never ended" in again.stderr  # it says it took the left-over dir over
    assert not sleeper.working.exists()
    assert not (sleeper.working / "late.txt").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_runner_stopped_by_a_signal_kills_its_job_and_cleans_up(
    sleeper: Sleeper, stop: signal.Signals, exit_code: int
) -> None:
    runner = sleeper.start()
    runner.send_signal(stop)
    _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == exit_code, stderr
    sleeper.wait_until_the_job_is_gone()
    assert not sleeper.working.exists(), "the cleanup did not run"
    assert f"interrupted by {stop.name}" in stderr

    sleeper.mode.write_text("quick\n")
    again = sleeper.run()
    assert again.returncode == 0, again.stderr
    assert "never ended" not in again.stderr  # nothing was left to take over


@pytest.mark.slow
def test_a_second_run_of_a_live_execution_is_refused(sleeper: Sleeper) -> None:
    runner = sleeper.start()
    try:
        concurrent = sleeper.run()
        assert concurrent.returncode == 125  # refused: nothing of it started
        assert "is being run now by another demand run" in concurrent.stderr, concurrent.stderr
        assert (sleeper.working / "started").exists()  # the live run's dir is untouched
        assert sleeper.job_processes()
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.communicate(timeout=60)
    sleeper.wait_until_the_job_is_gone()


def left_over(root: Path, execution_id: str) -> Path:
    """What a run killed mid-way leaves: its working dir, and its lock file saying 'running'."""
    working = root / "scratch" / execution_id
    (working / ".demand/tmp").mkdir(parents=True)
    (root / "locks").mkdir(parents=True)
    (root / "locks" / f"{execution_id}.lock").write_text("running\n")
    return working


def run_quick(root: Path, execution_id: str) -> str:
    spec = {
        "execution_id": execution_id,
        "execution_image": "bash",
        "execution_parameters": {"command": ["bash", "-c", "ls -A"]},
    }
    report = LocalRun(
        spec=parse_spec(spec), root=LocalRoot(root), launcher=ProcessLauncher()
    ).execute()
    assert report.status == "SUCCEEDED", report
    assert report.log_file is not None
    return Path(report.log_file).read_text()


def test_taking_over_a_left_over_dir_never_follows_a_link_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me\n")
    working = left_over(tmp_path / "root", "linked")
    (working / "escape").symlink_to(outside)
    (working / "stale.txt").write_text("from the killed run\n")

    seen = run_quick(tmp_path / "root", "linked")
    assert "stale.txt" not in seen  # the new run started from an empty working dir
    assert (outside / "precious").read_text() == "keep me\n"
    assert not working.exists()


def test_a_left_over_working_dir_that_is_a_link_is_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me\n")
    working = left_over(tmp_path / "root", "swapped")
    (working / ".demand/tmp").rmdir()
    (working / ".demand").rmdir()
    working.rmdir()
    working.symlink_to(outside)

    run_quick(tmp_path / "root", "swapped")
    assert (outside / "precious").read_text() == "keep me\n"
    assert not working.exists()
    assert not working.is_symlink()


def test_a_working_dir_kept_on_purpose_or_of_unknown_origin_is_refused(tmp_path: Path) -> None:
    for state in ("kept", None):
        root = tmp_path / str(state)
        working = left_over(root, "refused")
        lock = root / "locks/refused.lock"
        if state is None:
            lock.unlink()
        else:
            lock.write_text(f"{state}\n")
        with pytest.raises(Exception, match="left from an earlier run"):
            run_quick(root, "refused")
        assert working.is_dir()
