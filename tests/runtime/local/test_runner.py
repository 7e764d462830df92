"""``demand run`` end to end: real processes, a temporary EFS stand-in, moto for S3."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from runtime.cli.app import app
from runtime.local.jobs import ProcessLauncher
from runtime.local.root import LocalRoot
from runtime.local.runner import LocalRun, RunReport
from runtime.plan.builder import shared_cache_key
from runtime.spec import load_spec_file, parse_spec

EXAMPLES = Path(__file__).parents[3] / "examples"
runner = CliRunner()


def run_spec(root: Path, spec: dict[str, Any], **options: Any) -> RunReport:
    execution = LocalRun(
        spec=parse_spec(spec), root=LocalRoot(root), launcher=ProcessLauncher(), **options
    )
    return execution.execute()


def s3_spec(execution_id: str, command: list[str], **params: Any) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "execution_image": "bash",
        "execution_parameters": {
            "command": command,
            "params": {"data": "s3://inputs/data.txt", "result": "result.txt"} | params,
            "inputs": ["data"],
            "outputs": ["result"],
            "output_s3_prefix": f"s3://outputs/{execution_id}/",
        },
    }


@pytest.fixture
def buckets(aws: str) -> Any:
    s3 = boto3.client("s3", region_name="us-west-2")
    for bucket in ("inputs", "outputs"):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    s3.put_object(Bucket="inputs", Key="data.txt", Body=b"one two three\n")
    return s3


def output_keys(s3: Any, prefix: str = "") -> list[str]:
    found = s3.list_objects_v2(Bucket="outputs", Prefix=prefix).get("Contents", [])
    return [item["Key"] for item in found]


def test_hello_example(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = runner.invoke(
        app, ["run", str(EXAMPLES / "hello.yaml"), "--root", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["status"] == "SUCCEEDED"
    log = Path(report["log_file"]).read_text()
    assert log == "Hello, demand executions! Running as execution hello-world.\n"
    assert not (tmp_path / "scratch/hello-world").exists()


def test_word_count_example_with_file_uris(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("output"))
    spec = load_spec_file(examples / "word-count.yaml")
    report = LocalRun(
        spec=spec, root=LocalRoot(tmp_path / "root"), launcher=ProcessLauncher()
    ).execute()
    assert report.status == "SUCCEEDED", report
    output = examples / "output/word-count"
    assert (output / "counts.txt").read_text() == "24 poem.txt\n60 prose.txt\n"
    assert (output / "top/words.txt").read_text().split()[:2] == ["10", "was"]
    assert report.stage_in.transferred == 2
    assert report.stage_out.transferred == 2
    assert set(report.seconds) == {"prepare", "stage_in", "run", "stage_out", "cleanup"}


def test_s3_example_against_an_s3_compatible_endpoint(tmp_path: Path, buckets: Any) -> None:
    buckets.create_bucket(
        Bucket="demand-examples", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    for name in ("a.txt", "b.txt"):
        buckets.put_object(Bucket="demand-examples", Key=f"texts/{name}", Body=b"x y\n")
    result = runner.invoke(
        app, ["run", str(EXAMPLES / "s3-word-count.yaml"), "--root", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    counts = buckets.get_object(Bucket="demand-examples", Key="results/s3-word-count/counts.txt")[
        "Body"
    ].read()
    assert counts.decode().split()[-2:] == ["4", "total"]


def test_failing_job_uploads_nothing_and_cleans_up(tmp_path: Path, buckets: Any) -> None:
    spec = s3_spec("fails", ["bash", "-c", 'echo partial > "$RESULT"; exit 7'])
    report = run_spec(tmp_path, spec)
    assert report.status == "FAILED"
    assert (report.failure, report.exit_code) == ("job", 7)
    assert report.failed_step == "run"
    assert "stage_out" not in report.seconds
    assert output_keys(buckets) == []
    assert not (tmp_path / "scratch/fails").exists()


def test_keep_leaves_the_working_dir_for_debugging(tmp_path: Path, buckets: Any) -> None:
    spec = s3_spec("kept", ["bash", "-c", 'echo partial > "$RESULT"; exit 3'])
    report = run_spec(tmp_path, spec, keep=True)
    assert report.exit_code == 3
    assert report.kept
    assert (tmp_path / "scratch/kept/result.txt").read_text() == "partial\n"
    # Running it again refuses to reuse what was kept rather than mixing two runs, and
    # leaves it as it was.
    again = runner.invoke(app, ["run", str(write(tmp_path, spec)), "--root", str(tmp_path)])
    assert again.exit_code == 125  # refused: nothing started
    assert "left from an earlier run" in again.stderr
    assert (tmp_path / "scratch/kept/result.txt").read_text() == "partial\n"


def write(directory: Path, spec: dict[str, Any]) -> Path:
    path = directory / f"{spec['execution_id']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_second_run_reads_its_input_from_the_cache(
    tmp_path: Path, buckets: Any, object_reads: Counter[str]
) -> None:
    command = ["bash", "-c", 'wc -w < "$DATA" > "$RESULT"']
    first = run_spec(tmp_path, s3_spec("first", command))
    second = run_spec(tmp_path, s3_spec("second", command))
    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    assert object_reads["s3://inputs/data.txt"] == 1
    assert (first.stage_in.cache_hits, second.stage_in.cache_hits) == (0, 1)
    cached = tmp_path / "shared" / shared_cache_key("s3://inputs/data.txt") / "data.txt"
    assert cached.read_text() == "one two three\n"
    for execution_id in ("first", "second"):
        body = buckets.get_object(Bucket="outputs", Key=f"{execution_id}/result.txt")["Body"]
        assert body.read() == b"3\n"


def test_two_runs_at_once_download_a_shared_input_once(
    tmp_path: Path, buckets: Any, object_reads: Counter[str]
) -> None:
    command = ["bash", "-c", 'cat "$DATA" > "$RESULT"']
    reports: dict[str, RunReport] = {}

    def run(execution_id: str) -> None:
        reports[execution_id] = run_spec(tmp_path, s3_spec(execution_id, command))

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {report.status for report in reports.values()} == {"SUCCEEDED"}
    assert object_reads["s3://inputs/data.txt"] == 1
    assert sorted(output_keys(buckets)) == ["run-0/result.txt", "run-1/result.txt"]


def test_missing_input_fails_in_stage_in_without_running_the_job(
    tmp_path: Path, buckets: Any
) -> None:
    spec = s3_spec("missing", ["bash", "-c", "touch ran"], data="s3://inputs/absent.txt")
    report = run_spec(tmp_path, spec)
    assert (report.status, report.failed_step) == ("FAILED", "stage_in")
    assert (report.failure, report.exit_code) == ("staging", 126)
    assert "run" not in report.seconds
    assert output_keys(buckets) == []


def test_docker_runner_without_an_engine_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker binary reachable
    result = runner.invoke(
        app, ["run", str(EXAMPLES / "hello.yaml"), "--root", str(tmp_path), "--runner", "docker"]
    )
    assert result.exit_code == 127  # the job could not start
    assert result.stderr == "error: docker is not installed: use --runner process\n"


def test_a_job_killed_by_a_signal_exits_as_a_shell_reports_it(tmp_path: Path) -> None:
    spec = {
        "execution_id": "killed",
        "execution_image": "bash",
        "execution_parameters": {"command": ["bash", "-c", "kill -KILL $$"]},
    }
    report = run_spec(tmp_path, spec)
    assert (report.status, report.exit_code) == ("FAILED", 137)
