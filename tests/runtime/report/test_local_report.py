"""The local run's record and the report made from it: real runs of the local runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runtime.cli.app import app
from runtime.local.jobs import ProcessLauncher
from runtime.local.root import LocalRoot
from runtime.local.runner import LocalRun, RunReport
from runtime.report.local import RunRecordError, read_run_record, report_of_local_run
from runtime.spec import parse_spec

runner = CliRunner()


def two_inputs_spec(tmp_path: Path, execution_id: str, script: str) -> dict[str, Any]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "a.txt").write_bytes(b"a" * 1000)
    (data / "many").mkdir(exist_ok=True)
    for i in range(3):
        (data / "many" / f"{i}.txt").write_bytes(b"b" * 100)
    return {
        "execution_id": execution_id,
        "execution_image": "bash",
        "execution_parameters": {
            "command": ["bash", "-c", script],
            "params": {
                "one": (data / "a.txt").as_uri(),
                "several": (data / "many").as_uri() + "/",
                "out": "out.txt",
            },
            "inputs": ["one", "several"],
            "outputs": ["out"],
            "output_s3_prefix": (tmp_path / "results").as_uri() + "/",
        },
    }


def run(root: Path, spec: dict[str, Any]) -> RunReport:
    return LocalRun(
        spec=parse_spec(spec), root=LocalRoot(root), launcher=ProcessLauncher()
    ).execute()


def test_a_run_keeps_its_steps_and_transfers_and_the_report_reads_them(tmp_path: Path) -> None:
    root = tmp_path / "root"
    spec = two_inputs_spec(tmp_path, "rec-1", 'cat "$ONE" "$SEVERAL"/* > "$OUT"')
    result = run(root, spec)
    assert result.status == "SUCCEEDED"
    record = read_run_record(LocalRoot(root), "rec-1")
    assert [step.name for step in record.steps] == [
        "prepare",
        "stage_in",
        "run",
        "stage_out",
        "cleanup",
    ]
    # Each step starts after the previous one ended.
    for before, after in zip(record.steps, record.steps[1:], strict=False):
        assert before.started_at <= before.ended_at <= after.started_at

    report = report_of_local_run(root, "rec-1")
    assert report.status == "SUCCEEDED"
    assert [step.kind for step in report.steps] == [
        "prepare",
        "stage_in",
        "run",
        "stage_out",
        "cleanup",
    ]
    by_name = {t.name: t for t in report.transfers}
    assert set(by_name) == {"one", "several", "out"}
    assert (by_name["one"].bytes, by_name["one"].objects, by_name["one"].size) == (1000, 1, 1000)
    assert (by_name["several"].bytes, by_name["several"].objects) == (300, 3)
    assert by_name["out"].direction == "stage_out"
    assert by_name["out"].bytes == 1300
    assert report.staged_in_bytes == 1300
    assert report.job is not None
    assert report.job.capacity == "local"
    assert report.job.vcpus == 1
    assert [a.exit_code for a in report.job.attempts] == [0]
    assert report.cost.total_usd == 0.0  # file:// only: nothing to pay
    assert "Spot" in (report.cost.aside or "")


def test_the_second_run_reports_its_cache_hits_from_s3(tmp_path: Path, aws: str) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(
        Bucket="report-inputs", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    s3.put_object(Bucket="report-inputs", Key="d.txt", Body=b"x" * 2048)
    spec = {
        "execution_id": "hit",
        "execution_image": "bash",
        "execution_parameters": {
            "command": ["bash", "-c", 'wc -c < "$D"'],
            "params": {"d": "s3://report-inputs/d.txt"},
            "inputs": ["d"],
        },
    }
    root = tmp_path / "root"
    assert run(root, spec).status == "SUCCEEDED"
    first = report_of_local_run(root, "hit")
    assert [(t.bytes, t.cache_hit) for t in first.transfers] == [(2048, False)]
    assert run(root, spec).status == "SUCCEEDED"
    second = report_of_local_run(root, "hit")
    assert [(t.bytes, t.cache_hit, t.size) for t in second.transfers] == [(0, True, 2048)]
    assert second.cache_hits == 1
    # The first run read an object from S3 (a GET and data out of AWS); the second only listed.
    items = [line.item for line in first.cost.lines]
    assert "S3 GET requests" in items
    assert "S3 data out to this machine" in items
    assert "S3 GET requests" not in [line.item for line in second.cost.lines]


def test_a_failed_job_is_the_failed_step_with_its_exit_code(tmp_path: Path) -> None:
    root = tmp_path / "root"
    spec = two_inputs_spec(tmp_path, "rec-fail", "exit 7")
    assert run(root, spec).exit_code == 7
    report = report_of_local_run(root, "rec-fail")
    assert report.status == "FAILED"
    assert report.failed_step == "run"
    run_step = next(step for step in report.steps if step.kind == "run")
    assert not run_step.ok
    assert run_step.note == "exit code 7"
    assert report.job is not None
    assert report.job.attempts[0].exit_code == 7
    # No stage-out after a failed job; the cleanup still ran.
    assert [step.kind for step in report.steps][-1] == "cleanup"
    assert "stage_out" not in [step.kind for step in report.steps]


def test_missing_bad_and_hostile_records_are_one_line(tmp_path: Path) -> None:
    root = LocalRoot(tmp_path)
    with pytest.raises(RunRecordError, match="no local run of 'ghost'"):
        read_run_record(root, "ghost")
    with pytest.raises(RunRecordError, match="not an execution id"):
        read_run_record(root, "../../etc/passwd")
    root.runs.mkdir(parents=True)
    (root.runs / "bad.json").write_text("{not json")
    with pytest.raises(RunRecordError, match="not a run record"):
        read_run_record(root, "bad")
    (root.runs / "old.json").write_text(json.dumps({"execution_id": "old"}))
    with pytest.raises(RunRecordError, match="older demand run"):
        read_run_record(root, "old")


def test_the_command_writes_the_page_and_prints_the_json(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert run(root, two_inputs_spec(tmp_path, "cli-1", 'echo > "$OUT"')).status == "SUCCEEDED"
    page = tmp_path / "page.html"
    result = runner.invoke(
        app, ["report", "cli-1", "--root", str(root), "--json", "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["execution_id"] == "cli-1"
    assert data["kind"] == "execution"
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "cli-1" in text


def test_the_command_refuses_an_unknown_run_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "nothing", "--root", str(tmp_path)])
    assert result.exit_code == 125  # docs/cli.md: demand could not do it
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: no local run of 'nothing'")
    assert "Traceback" not in result.output


def test_several_ids_make_one_page_of_them_all(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for execution_id, script in (
        ("s-1", 'echo > "$OUT"'),
        ("s-2", 'echo > "$OUT"'),
        ("s-3", "exit 4"),
    ):
        run(root, two_inputs_spec(tmp_path, execution_id, script))
    page = tmp_path / "set.html"
    result = runner.invoke(
        app, ["report", "s-1", "s-2", "s-3", "--root", str(root), "--json", "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "run_set"
    assert data["executions"] == 3
    assert data["by_status"] == {"SUCCEEDED": 2, "FAILED": 1}
    assert [(row["execution_id"], row["error"]) for row in data["failed"]] == [
        ("s-3", "exit code 4")
    ]
    assert sum(b["count"] for b in data["durations"]) == 3
    # The later runs find the inputs already current in the shared cache: only the first moved
    # their bytes.
    assert data["staged_in_bytes"] == 1300
    text = page.read_text()
    assert "s-3" in text
    assert "estimate" in text
