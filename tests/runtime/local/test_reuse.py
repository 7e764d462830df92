"""Results reused by ``demand run``: real processes, SQLite for real, moto for S3."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import boto3
import pytest
from typer.testing import CliRunner

from runtime.cli.app import app
from runtime.local.jobs import ProcessLauncher
from runtime.local.root import LocalRoot
from runtime.local.runner import LocalRun, RunReport
from runtime.plan.configuration import ContextConfiguration, PlanningConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.spec import parse_spec
from runtime.volumes import EfsMount

cli = CliRunner()
IMAGE = "public.ecr.aws/docker/library/bash@sha256:" + "a" * 64
OTHER_IMAGE = "public.ecr.aws/docker/library/bash@sha256:" + "b" * 64
COMMAND = ["bash", "-c", 'grep -c "$0" "$1" > "$2"', "${word}", "${data}", "${result}"]


class CountingLauncher(ProcessLauncher):
    """A process launcher that counts the jobs it starts."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs = 0
        self._lock = threading.Lock()

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int:
        with self._lock:
            self.jobs += 1
        return super().run(plan, mounts, log)


def spec(execution_id: str, **changes: Any) -> dict[str, Any]:
    params = {"data": "s3://inputs/data.txt", "result": "result.txt", "word": "two"}
    return {
        "execution_id": execution_id,
        "execution_image": changes.pop("image", IMAGE),
        "execution_parameters": {
            "command": COMMAND,
            "params": params | changes.pop("params", {}),
            "inputs": ["data"],
            "outputs": ["result"],
            "output_s3_prefix": changes.pop("prefix", "s3://outputs/shared/"),
        },
    } | changes


@pytest.fixture
def s3(aws: str) -> Any:
    client = boto3.client("s3", region_name="us-west-2")
    for bucket in ("inputs", "outputs"):
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    client.put_object(Bucket="inputs", Key="data.txt", Body=b"one two three\ntwo\n")
    return client


def run(
    root: Path, request: dict[str, Any], launcher: CountingLauncher, **context: Any
) -> RunReport:
    configuration = PlanningConfiguration(context=ContextConfiguration(**context))
    return LocalRun(
        spec=parse_spec(request),
        root=LocalRoot(root),
        launcher=launcher,
        configuration=configuration,
    ).execute()


def result(s3: Any, key: str = "shared/result.txt") -> bytes:
    body: bytes = s3.get_object(Bucket="outputs", Key=key)["Body"].read()
    return body


def test_a_second_identical_request_is_reused(
    tmp_path: Path, s3: Any, object_reads: Counter[str]
) -> None:
    launcher = CountingLauncher()
    first = run(tmp_path, spec("first"), launcher)
    assert first.status == "SUCCEEDED", first.error
    assert first.reuse == "recorded"
    assert launcher.jobs == 1
    object_reads.clear()

    second = run(tmp_path, spec("second"), launcher)

    assert second.status == "SUCCEEDED", second.error
    assert second.reused_from == "first"
    assert second.reuse_key == first.reuse_key
    assert launcher.jobs == 1  # no job
    assert sum(object_reads.values()) == 0  # no input staged, no output read
    assert second.stage_in.transferred == 0
    assert [step.name for step in second.steps] == ["prepare", "cleanup"]
    assert result(s3) == b"2\n"


def test_a_hit_is_copied_to_new_destinations(tmp_path: Path, s3: Any) -> None:
    launcher = CountingLauncher()
    assert run(tmp_path, spec("first"), launcher).status == "SUCCEEDED"

    second = run(tmp_path, spec("second", prefix="s3://outputs/elsewhere/"), launcher)

    assert second.reused_from == "first"
    assert launcher.jobs == 1
    assert result(s3, "elsewhere/result.txt") == b"2\n"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"params": {"word": "three"}}, id="parameter"),
        pytest.param({"image": OTHER_IMAGE}, id="image"),
    ],
)
def test_a_changed_request_runs_again(tmp_path: Path, s3: Any, change: dict[str, Any]) -> None:
    launcher = CountingLauncher()
    first = run(tmp_path, spec("first"), launcher)

    second = run(tmp_path, spec("second", **change), launcher)

    assert second.reused_from is None
    assert second.reuse_key != first.reuse_key
    assert launcher.jobs == 2


def test_a_changed_input_object_runs_again(tmp_path: Path, s3: Any) -> None:
    launcher = CountingLauncher()
    first = run(tmp_path, spec("first"), launcher)
    s3.put_object(Bucket="inputs", Key="data.txt", Body=b"two two two\n")

    second = run(tmp_path, spec("second"), launcher)

    assert second.reused_from is None
    assert second.reuse_key != first.reuse_key
    assert launcher.jobs == 2
    assert result(s3) == b"1\n"


def test_a_deleted_earlier_output_runs_again(tmp_path: Path, s3: Any) -> None:
    launcher = CountingLauncher()
    run(tmp_path, spec("first"), launcher)
    s3.delete_object(Bucket="outputs", Key="shared/result.txt")

    second = run(tmp_path, spec("second"), launcher)

    assert second.reused_from is None
    assert second.reuse is not None
    assert second.reuse == "recorded"
    assert launcher.jobs == 2
    assert result(s3) == b"2\n"
    # ... and the new record is the one a third request reuses
    assert run(tmp_path, spec("third"), launcher).reused_from == "second"


def test_a_modified_earlier_output_runs_again(tmp_path: Path, s3: Any) -> None:
    launcher = CountingLauncher()
    run(tmp_path, spec("first"), launcher)
    s3.put_object(Bucket="outputs", Key="shared/result.txt", Body=b"tampered\n")

    second = run(tmp_path, spec("second"), launcher)

    assert second.reused_from is None
    assert launcher.jobs == 2
    assert result(s3) == b"2\n"


@pytest.mark.parametrize(
    ("request_changes", "context", "why"),
    [
        ({"image": "bash:5.2"}, {}, "not pinned by digest"),
        ({"execution_options": {"reuse": False}}, {}, "the request turns reuse off"),
        ({}, {"reuse": False}, "reuse is off in this environment"),
    ],
)
def test_reuse_turned_off_runs_every_time(
    tmp_path: Path, s3: Any, request_changes: dict[str, Any], context: dict[str, Any], why: str
) -> None:
    launcher = CountingLauncher()
    run(tmp_path, spec("first", **request_changes), launcher, **context)

    second = run(tmp_path, spec("second", **request_changes), launcher, **context)

    assert second.reused_from is None
    assert second.reuse_key is None
    assert second.reuse is not None
    assert why in second.reuse
    assert launcher.jobs == 2


def test_a_corrupt_record_is_a_miss(tmp_path: Path, s3: Any) -> None:
    launcher = CountingLauncher()
    first = run(tmp_path, spec("first"), launcher)
    with sqlite3.connect(tmp_path / "reuse.sqlite") as db:
        db.execute("UPDATE records SET body = ?", ('{"key": "not a record"',))

    second = run(tmp_path, spec("second"), launcher)

    assert second.status == "SUCCEEDED"
    assert second.reused_from is None
    assert second.reuse == "recorded"  # replaced by the fresh result
    assert launcher.jobs == 2
    assert run(tmp_path, spec("third"), launcher).reused_from == "second"
    assert first.reuse_key == second.reuse_key


def test_a_database_that_is_not_one_is_a_miss(tmp_path: Path, s3: Any) -> None:
    (tmp_path / "reuse.sqlite").write_bytes(b"this is not a database" * 100)
    launcher = CountingLauncher()

    report = run(tmp_path, spec("first"), launcher)

    assert report.status == "SUCCEEDED"
    assert report.reuse is not None
    assert report.reuse.startswith("not recorded")


def test_file_outputs_are_reused_and_a_touched_one_is_not(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("one two\n")
    out = tmp_path / "out"
    request = spec("first", prefix=f"file://{out}/")
    request["execution_parameters"]["params"]["data"] = f"file://{data}"
    launcher = CountingLauncher()
    root = tmp_path / "root"
    assert run(root, request, launcher).reuse == "recorded"

    assert run(root, request | {"execution_id": "second"}, launcher).reused_from == "first"
    (out / "result.txt").write_text("1\n")  # same content, but not the file recorded
    third = run(root, request | {"execution_id": "third"}, launcher)

    assert third.reused_from is None
    assert launcher.jobs == 2


def test_the_cli_shows_the_key_reuses_and_no_reuse_runs(tmp_path: Path, s3: Any) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(spec("first")))
    root = ["--root", str(tmp_path / "root")]
    before = cli.invoke(app, ["plan", str(path), *root])
    assert before.exit_code == 0, before.output
    assert "miss: no record" in before.output

    first = cli.invoke(app, ["run", str(path), *root, "--json"])
    assert first.exit_code == 0, first.output
    key = json.loads(first.stdout[first.stdout.index("{") :])["reuse_key"]
    after = cli.invoke(app, ["plan", str(path), *root])
    again = cli.invoke(app, ["run", str(path), *root])
    forced = cli.invoke(app, ["run", str(path), *root, "--no-reuse", "--json"])

    assert key in after.output
    assert "hit: reuses first" in after.output
    assert again.exit_code == 0, again.output
    assert "reused from" in again.output
    assert forced.exit_code == 0, forced.output
    report = json.loads(forced.stdout[forced.stdout.index("{") :])
    assert report["reused_from"] is None
    assert report["reuse_key"] is None
    assert "turns reuse off" in report["reuse"]
