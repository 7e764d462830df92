"""``demand run TEMPLATE --table ROWS -j N``: real worker processes, real jobs, moto for S3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from runtime.cli.app import app
from runtime.local.set_record import read_set_record

REPO = Path(__file__).parents[3]
runner = CliRunner()
pytestmark = pytest.mark.slow  # worker processes: seconds each on a loaded machine

# Every row reads one shared input and writes its own output; row "bad" fails.
TEMPLATE: dict[str, Any] = {
    "execution_id": "shared",
    "execution_image": "bash",
    "execution_parameters": {
        "command": [
            "bash",
            "-c",
            '[ "$SAMPLE" != bad ] || exit 7; { cat "$WORDS"; echo "$SAMPLE"; } > "$RESULT"',
        ],
        "params": {
            "words": "s3://inputs/words.txt",
            "result": "result.txt @ s3://outputs/${sample}/result.txt",
        },
        "inputs": ["words"],
        "outputs": ["result"],
    },
}


@pytest.fixture
def buckets(aws: str) -> Any:
    s3 = boto3.client("s3", region_name="us-west-2")
    for bucket in ("inputs", "outputs"):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    s3.put_object(Bucket="inputs", Key="words.txt", Body=b"one two\n")
    return s3


def write_set(directory: Path, samples: list[str]) -> tuple[Path, Path]:
    template = directory / "template.yaml"
    template.write_text(yaml.safe_dump(TEMPLATE))
    table = directory / "rows.csv"
    table.write_text("sample\n" + "".join(f"{sample}\n" for sample in samples))
    return template, table


def run_set(template: Path, table: Path, root: Path, *extra: str) -> Any:
    return runner.invoke(
        app,
        ["run", str(template), "--table", str(table), "--root", str(root), "--json", *extra],
    )


def test_a_set_shares_one_download_and_reports_its_failed_row(
    tmp_path: Path, buckets: Any, object_reads: Counter[str]
) -> None:
    samples = ["s1", "s2", "bad", "s4", "s5", "s6"]
    template, table = write_set(tmp_path, samples)
    result = run_set(template, table, tmp_path / "root", "-j", "3")
    assert result.exit_code == 123, result.output  # a row failed
    report = json.loads(result.stdout)
    states = {row["row"]: row["state"] for row in report["rows"]}
    assert states == {
        1: "SUCCEEDED",
        2: "SUCCEEDED",
        3: "FAILED",
        4: "SUCCEEDED",
        5: "SUCCEEDED",
        6: "SUCCEEDED",
    }
    failed = report["rows"][2]
    assert (failed["exit_code"], failed["failure"], failed["failed_step"]) == (7, "job", "run")
    assert f"row 3 ({failed['execution_id']}): FAILED, exit code 7" in result.stderr
    # Six rows, three at a time, one shared input: its body was read once.
    assert object_reads["s3://inputs/words.txt"] == 1
    for sample in ("s1", "s6"):
        body = buckets.get_object(Bucket="outputs", Key=f"{sample}/result.txt")["Body"].read()
        assert body == f"one two\n{sample}\n".encode()
    assert report["set_id"].startswith("shared-")
    assert [row["execution_id"] for row in report["rows"]] == [
        f"{report['set_id']}-{n}" for n in range(1, 7)
    ]
    assert not list((tmp_path / "root/scratch").iterdir())  # every row cleaned up


def test_the_same_set_again_runs_only_the_rows_that_did_not_succeed(
    tmp_path: Path, buckets: Any
) -> None:
    template, table = write_set(tmp_path, ["s1", "bad", "s3"])
    root = tmp_path / "root"
    first = json.loads(run_set(template, table, root, "-j", "2").stdout)
    logs = {row["row"]: Path(row["log_file"]) for row in first["rows"]}
    stamps = {number: log.stat().st_mtime_ns for number, log in logs.items()}
    # The same template and table again: the same set, and only its failed row runs.
    second_result = run_set(template, table, root, "-j", "2")
    second = json.loads(second_result.stdout)
    assert second["set_id"] == first["set_id"]  # recognised
    assert [row["state"] for row in second["rows"]] == ["SKIPPED", "FAILED", "SKIPPED"]
    assert second_result.exit_code == 123
    assert logs[1].stat().st_mtime_ns == stamps[1]  # not run again
    assert logs[2].stat().st_mtime_ns != stamps[2]  # run again
    # --again runs every row.
    again = json.loads(run_set(template, table, root, "--again").stdout)
    assert [row["state"] for row in again["rows"]] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    record = read_set_record(root / "sets", first["set_id"])
    assert record is not None
    assert [row.state for row in record.rows] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]


def test_bad_rows_start_nothing(tmp_path: Path) -> None:
    template, _ = write_set(tmp_path, [])
    table = tmp_path / "rows.csv"
    table.write_text("sample,execution_id\nok,fine\nx,a/b\ny,fine\n")
    root = tmp_path / "root"
    result = runner.invoke(app, ["run", str(template), "--table", str(table), "--root", str(root)])
    assert result.exit_code == 125
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: {table}:3: row 2: execution_id: must be 1–80 letters")
    assert lines[1] == f"error: {table}:4: row 3: execution_id: 'fine' is row 1's too"
    assert len(lines) == 2
    assert not root.exists()  # nothing started


def test_a_row_the_local_plan_refuses_is_refused_before_anything_starts(tmp_path: Path) -> None:
    template, _ = write_set(tmp_path, [])
    table = tmp_path / "rows.csv"
    table.write_text("sample\nok\n")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"context": {"allowed_schemes": ["file"]}}))
    result = runner.invoke(
        app,
        [
            "run",
            str(template),
            "--table",
            str(table),
            "--root",
            str(tmp_path / "root"),
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 125
    assert result.stderr.startswith(f"error: {table}:2: row 1: ")
    assert not (tmp_path / "root").exists()


def test_set_flags_need_a_table(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "spec.yaml", "-j", "2"])
    assert result.exit_code == 125
    assert (
        result.stderr == "error: --jobs, --set-id and --again are for a run set: pass --table too\n"
    )


def test_the_summary_through_a_pipe_and_the_sets_report(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        yaml.safe_dump(
            {
                "execution_id": "hello",
                "execution_image": "bash",
                "execution_parameters": {"command": ["echo", "${who}"], "params": {"who": "x"}},
            }
        )
    )
    table = tmp_path / "rows.yaml"
    table.write_text(yaml.safe_dump([{"who": "ada"}, {"who": "bob", "execution_id": "bob-run"}]))
    root = tmp_path / "root"
    result = runner.invoke(
        app, ["run", str(template), "--table", str(table), "--root", str(root), "--set-id", "hi"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].split() == ["row", "execution", "id", "state", "exit", "seconds"]
    assert lines[1].split()[:4] == ["1", "hi-1", "SUCCEEDED", "0"]
    assert lines[2].split()[:4] == ["2", "bob-run", "SUCCEEDED", "0"]
    assert lines[3].startswith("run set hi: SUCCEEDED (2 succeeded) in ")
    assert (root / "logs/bob-run.log").read_text() == "bob\n"
    page = tmp_path / "page.html"
    report = runner.invoke(
        app, ["report", "hi", "--root", str(root), "--json", "--html", str(page)]
    )
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    assert (data["set_id"], data["executions"], data["by_status"]) == ("hi", 2, {"SUCCEEDED": 2})
    assert page.exists()


def wait_for(condition: Any, seconds: float, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"{what} never happened:\n{out}\n{err}")
        time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_and_cleans_up_every_running_row(tmp_path: Path, signum: int) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        yaml.safe_dump(
            {
                "execution_id": "sleepy",
                "execution_image": "bash",
                "execution_parameters": {
                    "command": ["bash", "-c", 'touch "$WORKING_DIR/started"; sleep 311'],
                    "params": {"n": "0"},
                },
            }
        )
    )
    table = tmp_path / "rows.csv"
    table.write_text("n\n1\n2\n3\n4\n5\n")
    root = tmp_path / "root"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli.app",
            "run",
            str(template),
            "--table",
            str(table),
            "--root",
            str(root),
            "-j",
            "3",
            "--json",
        ],
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    scratch = root / "scratch"

    def three_running() -> bool:
        return scratch.is_dir() and len(list(scratch.glob("*/started"))) == 3

    wait_for(three_running, 300, "three rows running", process)
    process.send_signal(signum)  # to the set runner alone, as kill does: it passes it on
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    report = json.loads(out)
    assert [row["state"] for row in report["rows"]] == [
        "FAILED",
        "FAILED",
        "FAILED",
        "NOT_STARTED",
        "NOT_STARTED",
    ]
    assert {row["failure"] for row in report["rows"][:3]} == {"interrupted"}
    assert (report["status"], report["failure"]) == ("INTERRUPTED", "interrupted")
    assert list(scratch.iterdir()) == []  # every running row cleaned up
    assert not [
        entry for entry in Path("/proc").glob("[0-9]*/cmdline") if b"sleep\x00311" in _read(entry)
    ]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
