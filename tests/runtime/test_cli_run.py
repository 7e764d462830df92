"""``demand run`` as scripts use it: pure JSON on stdout with --json, and exit codes that tell
the job's own failure from the platform's (docs/cli.md; issue 14, items 1 and 9)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from runtime.cli.app import app
from tests.runtime.local.specs import script_spec

REPOSITORY = Path(__file__).parents[2]
runner = CliRunner()


def _write(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / f"{spec['execution_id']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _demand(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli.app", *arguments],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPOSITORY,
        timeout=120,
    )


@pytest.mark.slow
def test_run_json_is_pure_json_on_stdout(tmp_path: Path) -> None:
    spec = _write(tmp_path, script_spec("chatty", "echo job says hello; echo to stderr >&2"))
    done = _demand("run", str(spec), "--root", str(tmp_path / "root"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # the whole of stdout: nothing of the job's is in it
    assert (report["status"], report["exit_code"], report["failure"]) == ("SUCCEEDED", 0, None)
    assert "job says hello" in done.stderr
    assert "job says hello" in Path(report["log_file"]).read_text()


@pytest.mark.parametrize("code", [1, 2, 125])
def test_the_jobs_own_code_is_passed_through_and_named(tmp_path: Path, code: int) -> None:
    spec = _write(tmp_path, script_spec(f"exits-{code}", f"exit {code}"))
    result = runner.invoke(app, ["run", str(spec), "--root", str(tmp_path), "--json"])
    assert result.exit_code == code
    report = json.loads(result.stdout)
    assert (report["failure"], report["exit_code"], report["failed_step"]) == ("job", code, "run")


def test_a_staging_failure_is_126(tmp_path: Path) -> None:
    spec = script_spec("no-input", "cat $DATA", data=f"file://{tmp_path}/absent.txt")
    result = runner.invoke(app, ["run", str(_write(tmp_path, spec)), "--root", str(tmp_path)])
    assert result.exit_code == 126
    json_result = runner.invoke(
        app, ["run", str(_write(tmp_path, spec)), "--root", str(tmp_path), "--json"]
    )
    report = json.loads(json_result.stdout)
    assert (report["failure"], report["exit_code"], report["failed_step"]) == (
        "staging",
        126,
        "stage_in",
    )


def test_a_bad_request_is_125_and_json_says_so(tmp_path: Path) -> None:
    spec = script_spec("bad", "echo ${ghost}") | {"execution_image": ""}
    result = runner.invoke(app, ["run", str(_write(tmp_path, spec)), "--json"])
    assert result.exit_code == 125
    document = json.loads(result.stdout)
    assert (document["failure"], document["exit_code"]) == ("request", 125)
    lines = result.stderr.splitlines()
    assert document["errors"] == [line.removeprefix("error: ") for line in lines]


def test_a_job_that_cannot_start_is_127(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker
    spec = _write(tmp_path, script_spec("docker", "true"))
    result = runner.invoke(app, ["run", str(spec), "--runner", "docker", "--json"])
    assert result.exit_code == 127
    assert json.loads(result.stdout)["failure"] == "start"


@pytest.mark.parametrize(
    "arguments", [["run", "--bogus", "x.yaml"], ["run"], ["plan", "--json"], ["nope"]]
)
def test_usage_errors_are_125_not_a_jobs_2(arguments: list[str]) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 125, result.output


def test_a_missing_output_is_named_with_the_keep_hint(tmp_path: Path) -> None:
    spec = script_spec("forgetful", "echo no file written")
    spec["execution_parameters"] |= {
        "params": {"counts": "out/counts.txt"},
        "outputs": ["counts"],
        "output_s3_prefix": f"file://{tmp_path}/results/",
    }
    result = runner.invoke(app, ["run", str(_write(tmp_path, spec)), "--root", str(tmp_path)])
    assert result.exit_code == 126
    # the output as the request wrote it, not the engine's efs:// source
    assert (
        "stage_out: output 'out/counts.txt': the job left nothing at out/counts.txt in its "
        "working dir" in result.stderr
    )
    assert "efs://" not in result.stderr
    assert "run again with --keep" in result.stderr
    kept = runner.invoke(
        app, ["run", str(_write(tmp_path, spec)), "--root", str(tmp_path / "kept"), "--keep"]
    )
    assert kept.exit_code == 126
    assert "(kept)" in kept.stderr
    assert "--keep" not in kept.stderr


@pytest.mark.parametrize("table", [False, True])
def test_a_sync_setting_the_crt_would_refuse_is_125_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: bool
) -> None:
    """One line naming the setting and its range; no working dir made, no traceback."""
    monkeypatch.setenv("DEMAND_SYNC_MEMORY_LIMIT", "128MiB")
    spec = _write(tmp_path, script_spec("tuned", "echo ran > $OUT"))
    arguments = ["run", str(spec), "--root", str(tmp_path / "root")]
    if table:
        rows = tmp_path / "rows.csv"
        rows.write_text("execution_id\nrow-a\n")
        arguments += ["--table", str(rows)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 125, result.output
    assert result.stderr == (
        "error: DEMAND_SYNC_MEMORY_LIMIT must be between 256 MiB (the CRT's minimum) and 1 TiB\n"
    )
    assert not (tmp_path / "root").exists()
