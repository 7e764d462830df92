"""A run set on the synthesized run-set state machine, in moto: ``demand submit --table``,
``demand status SET``, ``demand retry SET``, through the command itself.

What moto runs here (see harness.py): the run-set state machine's own definition — the Choice
on the limits, the Distributed Map reading the manifest from S3 (ItemReader, JSON), running its
items at most MaxConcurrencyPath at once, each item's child workflow starting the execution
state machine with ``states:startExecution.sync:2`` and waiting for it, and the ResultWriter
putting the map run's results in S3 — and every row's whole execution behind it. What moto
does not: ToleratedFailurePercentagePath (it warns that the field has no effect; the
template's Map is checked for it in tests/infra/test_run_sets.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from runtime.cli.app import app
from tests.e2e.harness import DATA_BUCKET, Harness

runner = CliRunner()
ROWS = 21
FAILING_ROW = 7  # its input is not there at first

TEMPLATE: dict[str, Any] = {
    "execution_id": "sweep",
    "execution_image": "public.ecr.aws/docker/library/bash:5.2",
    "execution_parameters": {
        "command": ["bash", "-c", 'wc -w < "$WORDS" > "$COUNTS"'],
        "params": {
            "sample": "s1",
            "words": "s3://e2e-data/inputs/sweep/${sample}.txt",
            "counts": "counts.txt @ s3://e2e-data/outputs/sweep/${sample}/counts.txt",
        },
        "inputs": ["words"],
        "outputs": ["counts"],
    },
}


def demand(*arguments: str) -> Any:
    return runner.invoke(app, [*arguments, "--env", "dev"])


def wait_for_set(set_id: str, timeout: float = 1200.0) -> dict[str, Any]:
    """``demand status SET --json`` once the set has ended (the timeout guards a hang only)."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        result = demand("status", set_id, "--json")
        assert result.exit_code == 0, result.output
        status: dict[str, Any] = json.loads(result.stdout)
        if status["state"] != "RUNNING":
            return status
        time.sleep(0.5)
    raise TimeoutError(f"run set {set_id} still running after {timeout} s")


def test_twenty_one_rows_one_failing_then_retried_alone(harness: Harness, tmp_path: Path) -> None:
    harness.deploy_stack()
    samples = [f"s{n}" for n in range(1, ROWS + 1)]
    for number, sample in enumerate(samples, start=1):
        if number != FAILING_ROW:
            harness.put_object(f"s3://e2e-data/inputs/sweep/{sample}.txt", b"a b c " * number)
    template = tmp_path / "sweep.yaml"
    template.write_text(yaml.safe_dump(TEMPLATE))
    table = tmp_path / "samples.csv"
    table.write_text("sample\n" + "".join(f"{sample}\n" for sample in samples))

    submitted = demand(
        "submit", str(template), "--table", str(table), "--max-concurrency", "4", "--json"
    )
    assert submitted.exit_code == 0, submitted.output
    document = json.loads(submitted.stdout)
    set_id = document["set_id"]
    assert (document["rows"], document["max_concurrency"]) == (ROWS, 4)
    # The manifest is in the data bucket, one item per row, each a whole request.
    manifest = json.loads(harness.get_object(document["manifest"]))
    assert [item["row"] for item in manifest] == list(range(1, ROWS + 1))
    assert manifest[0]["spec"]["execution_id"] == f"{set_id}-1"

    status = wait_for_set(set_id)
    assert status["counts"] == {"SUCCEEDED": ROWS - 1, "FAILED": 1}
    assert status["state"] == "SUCCEEDED"  # the set tolerates its rows' failures (100%)
    (failed,) = status["failed"]
    assert (failed["row"], failed["execution_id"]) == (FAILING_ROW, f"{set_id}-{FAILING_ROW}")
    assert (failed["failure"], failed["exit_code"]) == ("staging", 126)
    assert failed["failed_step"] is not None
    assert "sweep/s7.txt" in (failed["cause"] or "")
    assert (status["failure"], status["exit_code"]) == ("rows", 123)
    for number in (1, ROWS):
        counts = harness.get_object(f"s3://e2e-data/outputs/sweep/s{number}/counts.txt")
        assert counts == f"{3 * number}\n".encode()
    # The Distributed Map wrote its results: a manifest of the map run's result files.
    results = harness.keys(DATA_BUCKET, "demand-run-sets/results/")
    assert any(key.endswith("/manifest.json") for key in results)
    jobs_before = harness.job_submissions()
    assert jobs_before == ROWS - 1  # the failing row never reached its job

    # The missing input arrives; a retry runs that row alone, under a new execution id.
    harness.put_object(f"s3://e2e-data/inputs/sweep/s{FAILING_ROW}.txt", b"x y")
    retried = demand("retry", set_id)
    assert retried.exit_code == 0, retried.output
    assert f"row {FAILING_ROW}: {set_id}-{FAILING_ROW} -> {set_id}-{FAILING_ROW}-r1" in (
        retried.stdout
    )
    status = wait_for_set(set_id)
    assert status["counts"] == {"SUCCEEDED": ROWS}
    assert [attempt["name"] for attempt in status["attempts"]] == [set_id, f"{set_id}-r1"]
    assert [attempt["rows"] for attempt in status["attempts"]] == [ROWS, 1]
    assert (status["failure"], status["exit_code"]) == (None, 0)
    assert harness.job_submissions() == jobs_before + 1  # only the failed row ran again
    assert harness.get_object(f"s3://e2e-data/outputs/sweep/s{FAILING_ROW}/counts.txt") == b"2\n"

    # The same set again is recognised, and refused: its ids are used.
    again = demand("submit", str(template), "--table", str(table))
    assert again.exit_code == 125
    assert f"run set {set_id!r} was submitted already (SUCCEEDED" in again.stderr
    # Nothing left to retry.
    nothing = demand("retry", set_id)
    assert nothing.exit_code == 125
    assert "every one of its 21 rows succeeded" in nothing.stderr
