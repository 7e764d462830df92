"""The cloud commands, registered on a throwaway Typer app as the CLI registers them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from runtime.cli import cloud as commands
from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import DeployedEnvironment
from tests.runtime.cloud import histories
from tests.runtime.cloud.conftest import DATA_BUCKET, JOB_LOG_GROUP, with_history
from tests.runtime.specs import spec_dict

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(commands.submit)
    app.command()(commands.status)
    app.command()(commands.logs)
    app.command()(commands.cancel)
    app.command("list")(commands.list_executions)
    return app


def _invoke(*arguments: str) -> Result:
    return runner.invoke(_app(), list(arguments))


def _one_error_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def deployable(execution_id: str, **parameters: Any) -> dict[str, Any]:
    """A request dev's Prepare accepts: its data bucket, its default queue."""
    return spec_dict(
        params={"input": f"s3://{DATA_BUCKET}/in.txt", "output": "out.txt", "level": 3},
        output_s3_prefix=f"s3://{DATA_BUCKET}/results/",
        **parameters,
    ) | {"execution_id": execution_id, "execution_platform": {}}


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(deployable("run-1")))
    return path


def _record(monkeypatch: pytest.MonkeyPatch, clients: AwsClients, recorded: AwsClients) -> None:
    monkeypatch.setattr(AwsClients, "create", staticmethod(lambda region=None: recorded))


def test_submit_prints_the_execution_arn(
    environment: DeployedEnvironment, clients: AwsClients, spec_file: Path
) -> None:
    result = _invoke("submit", str(spec_file), "--env", "dev")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == environment.execution_arn("run-1")
    described = clients.stepfunctions.describe_execution(
        executionArn=environment.execution_arn("run-1")
    )
    assert described["status"] == "RUNNING"


def test_submit_no_reuse_sends_the_request_with_reuse_off(
    environment: DeployedEnvironment, clients: AwsClients, spec_file: Path
) -> None:
    result = _invoke("submit", str(spec_file), "--env", "dev", "--no-reuse")
    assert result.exit_code == 0, result.output
    described = clients.stepfunctions.describe_execution(
        executionArn=environment.execution_arn("run-1")
    )
    sent = json.loads(described["input"])["spec"]
    assert sent["execution_options"]["reuse"] is False


def test_submitting_the_same_id_twice_is_refused(
    environment: DeployedEnvironment, spec_file: Path
) -> None:
    assert _invoke("submit", str(spec_file)).exit_code == 0
    result = _invoke("submit", str(spec_file))
    assert result.exit_code == 125
    assert _one_error_line(result).startswith("error: execution 'run-1' already exists")


def test_an_invalid_spec_is_reported_and_nothing_starts(
    environment: DeployedEnvironment, clients: AwsClients, tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(deployable("run-1") | {"execution_image": ""}))
    result = _invoke("submit", str(spec))
    assert result.exit_code == 125
    assert "execution_image" in result.stderr
    assert "Traceback" not in result.stderr
    listed = clients.stepfunctions.list_executions(stateMachineArn=environment.state_machine_arn)
    assert listed["executions"] == []


def test_an_environment_that_is_not_deployed(
    environment: DeployedEnvironment, spec_file: Path
) -> None:
    result = _invoke("submit", str(spec_file), "--env", "prod")
    assert result.exit_code == 125
    assert "environment 'prod' is not deployed in us-west-2" in _one_error_line(result)


def test_no_region_is_one_line(spec_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    result = _invoke("status", "run-1")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), "
        "or give profile 'default' a region"
    )


def test_status_of_a_failed_execution(
    environment: DeployedEnvironment,
    clients: AwsClients,
    spec_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _invoke("submit", str(spec_file)).exit_code == 0
    failed: dict[str, Any] = {
        "status": "FAILED",
        "error": "States.TaskFailed",
        "cause": "exit code 3",
    }
    _record(
        monkeypatch, clients, with_history(clients, histories.failed_job().newest_first(), **failed)
    )
    result = _invoke("status", "run-1")
    assert result.exit_code == 0, result.output
    lines = {line[:10].strip(): line[11:] for line in result.stdout.splitlines()}
    assert lines["execution"] == "run-1"
    assert lines["state"] == "FAILED"
    assert lines["step"] == "Fail"
    assert lines["failed in"] == "Run job"
    assert lines["batch job"] == "job-123"
    assert lines["error"] == "States.TaskFailed"
    assert lines["cause"] == "exit code 3"


def test_status_of_an_unknown_execution(environment: DeployedEnvironment) -> None:
    result = _invoke("status", "nope")
    assert result.exit_code == 125
    assert _one_error_line(result) == "error: no execution 'nope' in environment 'dev'"


class _BatchWithLogs:
    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        return {
            "jobs": [{"jobId": jobs[0], "status": "RUNNING", "container": {"logStreamName": "s"}}]
        }


def test_logs_prints_the_jobs_output(
    environment: DeployedEnvironment,
    clients: AwsClients,
    spec_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _invoke("submit", str(spec_file)).exit_code == 0
    clients.logs.create_log_group(logGroupName=JOB_LOG_GROUP)
    clients.logs.create_log_stream(logGroupName=JOB_LOG_GROUP, logStreamName="s")
    now_ms = int(time.time() * 1000)
    clients.logs.put_log_events(
        logGroupName=JOB_LOG_GROUP,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms, "message": "Hello"},
            {"timestamp": now_ms + 1, "message": "done"},
        ],
    )
    recorded = with_history(clients, histories.running_job().newest_first())
    _record(
        monkeypatch,
        clients,
        AwsClients(
            cloudformation=recorded.cloudformation,
            stepfunctions=recorded.stepfunctions,
            batch=_BatchWithLogs(),  # type: ignore[arg-type]
            logs=recorded.logs,
            lambda_=recorded.lambda_,
        ),
    )
    result = _invoke("logs", "run-1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Hello", "done"]


def test_logs_before_the_job_is_one_line(
    environment: DeployedEnvironment,
    clients: AwsClients,
    spec_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _invoke("submit", str(spec_file)).exit_code == 0
    _record(monkeypatch, clients, with_history(clients, histories.preparing().newest_first()))
    result = _invoke("logs", "run-1")
    assert result.exit_code == 125
    assert _one_error_line(result) == (
        "error: execution 'run-1' has not submitted its Batch job (RUNNING, step: Prepare)"
    )


def test_cancel(
    environment: DeployedEnvironment,
    clients: AwsClients,
    spec_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _invoke("submit", str(spec_file)).exit_code == 0
    _record(monkeypatch, clients, with_history(clients, histories.preparing().newest_first()))
    result = _invoke("cancel", "run-1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["stopped execution run-1"]
    again = _invoke("cancel", "run-1")
    assert again.exit_code == 125
    assert "is ABORTED, not running" in _one_error_line(again)


def test_list(environment: DeployedEnvironment, spec_file: Path, tmp_path: Path) -> None:
    assert _invoke("submit", str(spec_file)).exit_code == 0
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(deployable("run-22")))
    assert _invoke("submit", str(other)).exit_code == 0
    result = _invoke("list", "--env", "dev")
    assert result.exit_code == 0, result.output
    names = sorted(line.split()[0] for line in result.stdout.splitlines())
    assert names == ["run-1", "run-22"]
    assert all("RUNNING" in line for line in result.stdout.splitlines())
    filtered = _invoke("list", "--state", "SUCCEEDED")
    assert filtered.exit_code == 0
    assert filtered.stdout == ""
    assert filtered.stderr.strip() == "no executions"
