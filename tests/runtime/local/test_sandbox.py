"""A hostile process job against the local sandbox: real jobs under bubblewrap, no AWS.

A job sees only its own execution: its working and tmp dirs read-write, the cached inputs it
was given read-only, nothing else of the local root (no other execution, no control files).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.local import sandbox
from runtime.local.jobs import ProcessLauncher
from runtime.local.root import LocalRoot
from runtime.local.runner import LocalRun, RunReport
from runtime.plan.builder import shared_cache_key
from runtime.spec import parse_spec
from runtime.steps.cache_prune import LAST_USED
from tests.runtime.local.specs import script_spec

REPO = Path(__file__).parents[3]


def require_sandbox() -> None:
    reason = sandbox.unavailable_reason()
    if reason is not None:
        pytest.skip(f"bubblewrap cannot run here, so there is no sandbox to test: {reason}")


def run(root: Path, document: dict[str, Any], **options: Any) -> RunReport:
    execution = LocalRun(
        spec=parse_spec(document), root=LocalRoot(root), launcher=ProcessLauncher(), **options
    )
    return execution.execute()


def log_of(report: RunReport) -> str:
    assert report.log_file is not None
    return Path(report.log_file).read_text()


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


VICTIM = """
echo secret-of-b > secret.txt
mkdir sub && echo inside > sub/file
touch ready
for _ in $(seq 600); do [ -e go ] && break; sleep 0.05; done
[ "$(cat secret.txt)" = secret-of-b ] && [ ! -e planted ] && [ ! -e sub/planted ] || exit 3
"""

HOSTILE = """
set +e
echo "root: $(ls -A "$ROOT" 2>&1 | tr '\\n' ' ')"
echo "scratch: $(ls -A "$ROOT/scratch" 2>&1 | tr '\\n' ' ')"
echo "shared: $(ls -A "$ROOT/shared" 2>&1 | tr '\\n' ' ')"
echo "read: $(cat "$ROOT/scratch/$VICTIM/secret.txt" 2>&1)"
echo "read input: $(cat "$ROOT"/shared/*/b.txt 2>&1)"
echo evil > "$ROOT/scratch/$VICTIM/secret.txt" 2>/dev/null && echo "HOSTILE wrote the secret"
echo evil > "$ROOT/scratch/$VICTIM/planted" 2>/dev/null && echo "HOSTILE planted a file"
echo evil > "$ROOT/scratch/$VICTIM/sub/planted" 2>/dev/null && echo "HOSTILE planted deeper"
mkdir -p "$ROOT/scratch/$VICTIM/x" 2>/dev/null && echo "HOSTILE made a dir"
touch "$ROOT/scratch/elsewhere" 2>/dev/null && echo "HOSTILE wrote the scratch volume"
touch "$ROOT/planted" 2>/dev/null && echo "HOSTILE wrote the root"
echo "locks: $(ls -A "$ROOT/locks" 2>&1 | tr '\\n' ' ')"
echo "logs: $(ls -A "$ROOT/logs" 2>&1 | tr '\\n' ' ')"
echo "control: $(ls -A "$WORKING_DIR/.demand" 2>&1 | tr '\\n' ' ')"
for p in /proc/[0-9]*; do
  tr '\\0' '\\n' < "$p/environ" 2>/dev/null | grep -qx "EXECUTION_ID=$VICTIM" \\
    && echo "HOSTILE found the victim's process $p"
  ls "$p/cwd/" 2>/dev/null | grep -qx secret.txt && echo "HOSTILE reached the victim via $p/cwd"
done
exit 0
"""


def listing(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): path.read_text() if path.is_file() else "<dir>"
        for path in sorted(directory.rglob("*"))
    }


def test_a_job_sees_nothing_of_another_execution_running_beside_it(tmp_path: Path) -> None:
    require_sandbox()
    root = tmp_path / "root"
    (tmp_path / "b.txt").write_text("input of b\n")
    (tmp_path / "a.txt").write_text("input of a\n")
    victim = script_spec("victim-b", VICTIM, b=f"file://{tmp_path / 'b.txt'}")
    reports: dict[str, RunReport] = {}
    thread = threading.Thread(target=lambda: reports.update(b=run(root, victim)))
    thread.start()
    try:
        working_b = root / "scratch/victim-b"
        wait_for(working_b / "ready")
        before = listing(working_b)

        hostile = script_spec(
            "hostile-a", HOSTILE, root=str(root), victim="victim-b", a=f"file://{tmp_path}/a.txt"
        )
        report_a = run(root, hostile)
        assert report_a.status == "SUCCEEDED", report_a
        assert report_a.sandbox == "bubblewrap"
        log = log_of(report_a)

        # From B's side: nothing changed, nothing added.
        assert listing(working_b) == before
        assert not (root / "scratch/elsewhere").exists()
        assert not (root / "planted").exists()
    finally:
        (root / "scratch/victim-b/go").touch()
        thread.join()
    assert reports["b"].status == "SUCCEEDED", log_of(reports["b"])

    # From A's side: it saw nothing of B, of the root's other contents, or of the control files.
    assert "HOSTILE" not in log, log
    lines = dict(line.split(": ", 1) for line in log.splitlines() if ": " in line)
    assert set(lines["root"].split()) <= {"scratch", "shared"}, log
    assert lines["scratch"].split() == ["hostile-a"], log
    assert lines["shared"].split() == [shared_cache_key(f"file://{tmp_path}/a.txt")], log
    assert "secret-of-b" not in lines["read"]
    assert "input of b" not in lines["read input"]
    assert "No such file" in lines["locks"]
    assert "No such file" in lines["logs"]
    assert lines["control"].split() == ["tmp"], log  # its TMPDIR only: no plan, no log


def test_a_job_cannot_write_its_cached_input(tmp_path: Path) -> None:
    require_sandbox()
    (tmp_path / "data.txt").write_text("original\n")
    script = """
    set +e
    echo evil > "$DATA" || echo "refused: overwrite"
    echo evil >> "$DATA" || echo "refused: append"
    chmod 666 "$DATA" || echo "refused: chmod"
    rm -f "$DATA" || echo "refused: remove"
    mv "$DATA" "$DATA.moved" || echo "refused: rename"
    touch "$(dirname "$DATA")/planted" || echo "refused: plant"
    cat "$DATA" > "$WORKING_DIR/seen.txt"
    """
    report = run(
        tmp_path / "root", script_spec("poisoner", script, data=f"file://{tmp_path}/data.txt")
    )
    assert report.status == "SUCCEEDED", report
    log = log_of(report)
    for attempt in ("overwrite", "append", "chmod", "remove", "rename", "plant"):
        assert f"refused: {attempt}" in log, log
    assert "Read-only file system" in log
    cached = tmp_path / "root/shared" / shared_cache_key(f"file://{tmp_path}/data.txt")
    assert (cached / "data.txt").read_text() == "original\n"
    # the job planted nothing: the entry holds the input and the stager's last-used stamp only
    assert sorted(p.name for p in cached.iterdir()) == sorted(["data.txt", LAST_USED])


def test_the_report_says_which_sandbox_the_job_had(tmp_path: Path) -> None:
    require_sandbox()
    report = run(tmp_path, script_spec("boxed", "true"))
    assert (report.status, report.sandbox) == ("SUCCEEDED", "bubblewrap")


def test_without_bubblewrap_the_job_runs_unsandboxed_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    monkeypatch.setenv(sandbox.SANDBOX_VARIABLE, "auto")
    report = run(tmp_path, script_spec("unboxed", "echo ran; echo again"))
    assert report.status == "SUCCEEDED"
    assert report.sandbox is not None
    assert report.sandbox.startswith("none: bwrap is not installed")
    stderr = capfd.readouterr().err
    assert stderr.count("without a sandbox") == 1, stderr
    assert "every execution" in stderr


def test_the_sandbox_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(sandbox.SANDBOX_VARIABLE, "none")
    script = 'ls "$ROOT/scratch" > "$ROOT/seen.txt"'
    report = run(tmp_path, script_spec("plain", script, root=str(tmp_path)))
    assert (report.status, report.sandbox) == ("SUCCEEDED", "none: DEMAND_SANDBOX=none")
    assert (tmp_path / "seen.txt").read_text() == "plain\n"  # it saw, and wrote, the whole root
    assert "without a sandbox" not in capfd.readouterr().err  # asked for: no warning


def test_a_required_sandbox_that_cannot_run_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.SANDBOX_VARIABLE, "bubblewrap")
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailableError, match="DEMAND_SANDBOX=bubblewrap"):
        run(tmp_path, script_spec("required", "true"))
    assert not (tmp_path / "scratch/required").exists()


def test_an_unknown_sandbox_choice_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.SANDBOX_VARIABLE, "firejail")
    with pytest.raises(sandbox.SandboxUnavailableError, match="auto, bubblewrap or none"):
        run(tmp_path, script_spec("unknown", "true"))


def test_a_bwrap_that_cannot_build_namespaces_is_a_fallback_with_its_reason(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    reason = sandbox.probe(str(fake))
    assert reason is not None
    assert "No permissions to create new namespace" in reason


def demand_run(document: Path, root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``demand run DOCUMENT --root ROOT`` as a user runs it: a process of its own."""
    command = [sys.executable, "-m", "runtime.cli.app", "run", str(document), "--root", str(root)]
    return subprocess.run(
        [*command, *options], capture_output=True, text=True, cwd=REPO, check=False
    )


def test_the_cli_runs_the_job_in_the_sandbox(tmp_path: Path) -> None:
    require_sandbox()
    document = tmp_path / "spec.yaml"
    document.write_text(
        "execution_id: cli-boxed\nexecution_image: bash\n"
        "execution_parameters:\n  command: [bash, -c, 'ls -A \"$WORKING_DIR/..\"']\n"
    )
    other = tmp_path / "root/scratch/someone-else"
    other.mkdir(parents=True)
    result = demand_run(document, tmp_path / "root", "--json")
    assert result.returncode == 0, result.stderr
    assert "someone-else" not in result.stdout.partition("{")[0]
    assert '"sandbox": "bubblewrap"' in result.stdout


def test_a_sandboxed_job_gets_an_empty_home_and_tmp_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_sandbox()
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws/credentials").write_text("[default]\nsecret\n")
    monkeypatch.setenv("HOME", str(home))
    script = """
    echo "home: $(ls -A "$HOME")"
    echo "tmp: $(ls -A /tmp)"
    echo mine > "$HOME/note" && echo mine > /tmp/note && echo wrote
    """
    report = run(tmp_path / "root", script_spec("homeless", script))
    assert report.status == "SUCCEEDED", report
    home_line, tmp_line, wrote = log_of(report).splitlines()
    assert (home_line, wrote) == ("home: ", "wrote")
    # /tmp holds at most the path down to this test's root (bind mount points), nothing else
    under_tmp = tmp_path.is_relative_to("/tmp")
    allowed = {tmp_path.relative_to("/tmp").parts[0]} if under_tmp else set()
    assert set(tmp_line.removeprefix("tmp: ").split()) <= allowed, tmp_line
    assert sorted(p.name for p in home.iterdir()) == [".aws"]  # nothing written to the real one


def test_outside_its_own_dirs_a_sandboxed_job_writes_only_to_its_private_tmp_and_home(
    tmp_path: Path,
) -> None:
    require_sandbox()
    script = """
    for target in / /usr /etc /opt "$WORKING_DIR/.demand" "$WORKING_DIR/.."; do
      touch "$target/planted" 2>/dev/null && echo "HOSTILE wrote $target"
    done
    touch /tmp/ok "$HOME/ok" "$TMPDIR/ok" "$WORKING_DIR/ok" && echo wrote
    """
    report = run(tmp_path / "root", script_spec("writer", script))
    assert report.status == "SUCCEEDED", report
    assert log_of(report) == "wrote\n"


def test_the_run_report_says_which_sandbox_the_job_had(tmp_path: Path) -> None:
    require_sandbox()
    document = tmp_path / "spec.yaml"
    document.write_text(
        "execution_id: said\nexecution_image: bash\nexecution_parameters:\n  command: [echo, ok]\n"
    )
    result = demand_run(document, tmp_path / "root")
    assert result.returncode == 0, result.stderr
    assert [line.split() for line in result.stderr.splitlines() if line.startswith("sandbox")] == [
        ["sandbox", "bubblewrap"]
    ]
