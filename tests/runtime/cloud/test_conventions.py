"""What users of aws, s5cmd, rclone and dsub expect of the cloud commands (issue 14): --json
with stable keys, --wait with the execution's outcome as exit code, logs --follow, a
case-insensitive --state, and the AWS flags on every command that talks to AWS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from runtime.cli.app import app
from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import DeployedEnvironment
from tests.runtime.cloud import histories
from tests.runtime.cloud.conftest import DATA_BUCKET, JOB_LOG_GROUP, RecordedHistory
from tests.runtime.specs import spec_dict

runner = CliRunner()

STATUS_KEYS = {
    "execution_id",
    "execution_arn",
    "state",
    "step",
    "started",
    "stopped",
    "batch_job_id",
    "failed_step",
    "error",
    "cause",
    "failure",
    "exit_code",
    "redrive_count",
    "redrive_status",
    "redrivable_until",
}


def _invoke(*arguments: str) -> Result:
    result = runner.invoke(app, list(arguments))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def _spec(tmp_path: Path, execution_id: str = "run-1", **params: Any) -> Path:
    data = spec_dict(
        params={"input": f"s3://{DATA_BUCKET}/in.txt", "output": "out.txt", "level": 3, **params},
        output_s3_prefix=f"s3://{DATA_BUCKET}/results/",
    ) | {"execution_id": execution_id, "execution_platform": {}}
    path = tmp_path / f"{execution_id}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Unfolding(RecordedHistory):
    """An execution that is RUNNING for the first ``running`` looks, then as ``described``."""

    def __init__(
        self, clients: AwsClients, events: list[dict[str, Any]], running: int, **described: Any
    ) -> None:
        super().__init__(clients.stepfunctions, events, **described)
        self.running = running

    def describe_execution(self, **request: Any) -> dict[str, Any]:
        if self.running > 0:
            self.running -= 1
            return cast("dict[str, Any]", self._client.describe_execution(**request))
        return super().describe_execution(**request)


def _use(
    monkeypatch: pytest.MonkeyPatch,
    clients: AwsClients,
    stepfunctions: Any = None,
    batch: Any = None,
    logs: Any = None,
) -> None:
    recorded = AwsClients(
        cloudformation=clients.cloudformation,
        stepfunctions=stepfunctions or clients.stepfunctions,
        batch=batch or clients.batch,
        logs=logs or clients.logs,
        lambda_=clients.lambda_,
    )
    monkeypatch.setattr(AwsClients, "create", staticmethod(lambda region=None: recorded))


def failed_with_exit_code(code: int) -> histories.History:
    history = histories.running_job()
    history.batch_task(
        "TaskFailed",
        "taskFailedEventDetails",
        error="States.TaskFailed",
        cause=json.dumps({"JobId": "job-123", "Status": "FAILED", "Container": {"ExitCode": code}}),
    )
    return history.lambda_step("Cleanup after failure").enter("Fail", "Fail")


FAILED = {"status": "FAILED", "error": "States.TaskFailed", "cause": "exit 3"}


# --- the AWS flags ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["plan", "run", "sync", "submit", "status", "logs", "cancel", "list"]
)
def test_every_command_that_talks_to_aws_takes_the_aws_flags(command: str) -> None:
    group = cast(Any, typer.main.get_command(app))
    options = {option for param in group.commands[command].params for option in param.opts}
    assert {"--profile", "--region", "--endpoint-url"} <= options


def test_a_flag_region_is_where_the_environment_is_looked_for(
    environment: DeployedEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # where moto's stack is
    assert _invoke("status", "nope", "--region", "eu-west-1").stderr.strip() == (
        "error: environment 'dev' is not deployed in eu-west-1 (no stack demand-dev); "
        "deploy it with ./dev cdk deploy -c env=dev, or pick the region with --region"
    )


def test_aws_region_is_read_by_the_cloud_commands(
    environment: DeployedEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    result = _invoke("list")
    assert result.exit_code == 0, result.output


def test_a_malformed_endpoint_is_refused() -> None:
    result = _invoke("list", "--endpoint-url", "localhost:9000")
    assert result.exit_code == 125
    assert result.stderr == (
        "error: --endpoint-url: 'localhost:9000' is not an http:// or https:// URL\n"
    )


# --- submit -----------------------------------------------------------------------------------


def test_submit_json(environment: DeployedEnvironment, tmp_path: Path) -> None:
    result = _invoke("submit", str(_spec(tmp_path)), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "execution_id": "run-1",
        "execution_arn": environment.execution_arn("run-1"),
        "environment": "dev",
    }


def test_submit_refuses_file_locations_before_starting_and_keeps_the_id(
    environment: DeployedEnvironment, clients: AwsClients, tmp_path: Path
) -> None:
    local = tmp_path / "local.yaml"
    local.write_text(
        yaml.safe_dump(
            spec_dict(
                params={"input": "file:///tmp/in.txt", "output": "out.txt"},
                output_s3_prefix=f"s3://{DATA_BUCKET}/results/",
            )
            | {"execution_id": "run-1", "execution_platform": {}}
        )
    )
    result = _invoke("submit", str(local), "--json")
    assert result.exit_code == 125
    assert "file://" in result.stderr
    assert json.loads(result.stdout)["failure"] == "request"
    listed = clients.stepfunctions.list_executions(stateMachineArn=environment.state_machine_arn)
    assert listed["executions"] == []
    # The id is still free: the corrected request starts under it.
    assert _invoke("submit", str(_spec(tmp_path))).exit_code == 0


def test_submit_wait_exits_with_the_jobs_own_code(
    environment: DeployedEnvironment,
    clients: AwsClients,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stepfunctions = Unfolding(clients, failed_with_exit_code(3).newest_first(), 2, **FAILED)
    _use(monkeypatch, clients, stepfunctions=stepfunctions)
    result = _invoke("submit", str(_spec(tmp_path)), "--wait", "--poll", "0", "--json")
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    assert set(document) == STATUS_KEYS | {"environment"}
    assert (document["state"], document["failure"], document["exit_code"]) == ("FAILED", "job", 3)
    assert "waiting: run-1 RUNNING" in result.stderr


# --- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "described", "failure", "code"),
    [
        (failed_with_exit_code(3), FAILED, "job", 3),
        (failed_with_exit_code(126), FAILED, "job", 126),
        (histories.failed_job(), FAILED, "start", 127),  # Batch recorded no exit code
        (
            histories.preparing().enter("Fail", "Fail"),
            {"status": "FAILED", "error": "SpecError", "cause": "bad"},
            "request",
            125,
        ),
        (
            histories.running_job().enter("Fail", "Fail"),
            {"status": "FAILED", "error": "SyncFailed", "cause": "denied"},
            "staging",
            126,
        ),
        (histories.running_job(), {"status": "ABORTED"}, "interrupted", 143),
        (histories.running_job(), {"status": "SUCCEEDED"}, None, 0),
    ],
)
def test_status_wait_exits_with_the_outcome(
    environment: DeployedEnvironment,
    clients: AwsClients,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    history: histories.History,
    described: dict[str, Any],
    failure: str | None,
    code: int,
) -> None:
    assert _invoke("submit", str(_spec(tmp_path))).exit_code == 0
    stepfunctions = Unfolding(clients, history.newest_first(), 1, **described)
    _use(monkeypatch, clients, stepfunctions=stepfunctions)
    result = _invoke("status", "run-1", "--wait", "--poll", "0", "--json")
    assert result.exit_code == code, result.output
    document = json.loads(result.stdout)
    assert set(document) == STATUS_KEYS
    assert (document["failure"], document["exit_code"]) == (failure, code)


def test_status_without_wait_reports_but_exits_0(
    environment: DeployedEnvironment,
    clients: AwsClients,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _invoke("submit", str(_spec(tmp_path))).exit_code == 0
    stepfunctions = Unfolding(clients, failed_with_exit_code(3).newest_first(), 0, **FAILED)
    _use(monkeypatch, clients, stepfunctions=stepfunctions)
    result = _invoke("status", "run-1")
    assert result.exit_code == 0
    lines = {line[:10].strip(): line[11:] for line in result.stdout.splitlines()}
    assert (lines["failure"], lines["exit code"]) == ("job", "3")


def test_status_json_of_an_unknown_execution_says_which_failure(
    environment: DeployedEnvironment,
) -> None:
    result = _invoke("status", "nope", "--json")
    assert result.exit_code == 125
    assert json.loads(result.stdout) == {
        "failure": "environment",
        "exit_code": 125,
        "errors": ["no execution 'nope' in environment 'dev'"],
    }


# --- list -------------------------------------------------------------------------------------


def test_list_json_and_a_state_in_any_case(
    environment: DeployedEnvironment, tmp_path: Path
) -> None:
    assert _invoke("submit", str(_spec(tmp_path))).exit_code == 0
    result = _invoke("list", "--json", "--state", "running")
    assert result.exit_code == 0, result.output
    (execution,) = json.loads(result.stdout)
    assert set(execution) == {"execution_id", "execution_arn", "state", "started", "stopped"}
    assert (execution["execution_id"], execution["state"]) == ("run-1", "RUNNING")
    none = _invoke("list", "--json", "--state", "Succeeded")
    assert (none.exit_code, json.loads(none.stdout)) == (0, [])


# --- logs -------------------------------------------------------------------------------------


class GrowingLogs:
    """CloudWatch Logs as a running job writes: one more batch of events on each read, until
    the job has no more to say."""

    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches
        self.reads = 0
        self.delivered: list[dict[str, Any]] = []

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        assert (request["logGroupName"], request["logStreamName"]) == (JOB_LOG_GROUP, "s")
        self.reads += 1
        start = int(request.get("nextToken", "f/0").split("/")[1])
        if start == len(self.delivered) and self.batches:
            now = int(time.time() * 1000)
            self.delivered += [
                {"timestamp": now + i, "message": message}
                for i, message in enumerate(self.batches.pop(0))
            ]
        return {"events": self.delivered[start:], "nextForwardToken": f"f/{len(self.delivered)}"}


class EndingBatch:
    """A job that is RUNNING for ``running`` looks, then SUCCEEDED."""

    def __init__(self, running: int) -> None:
        self.running = running

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        self.running -= 1
        state = "RUNNING" if self.running >= 0 else "SUCCEEDED"
        return {"jobs": [{"jobId": jobs[0], "status": state, "container": {"logStreamName": "s"}}]}


def test_logs_follow_prints_new_lines_until_the_job_ends(
    environment: DeployedEnvironment,
    clients: AwsClients,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _invoke("submit", str(_spec(tmp_path))).exit_code == 0
    logs = GrowingLogs([["one"], [], ["two", "three"], [], [], ["four"]])
    stepfunctions = RecordedHistory(clients.stepfunctions, histories.running_job().newest_first())
    _use(monkeypatch, clients, stepfunctions=stepfunctions, batch=EndingBatch(4), logs=logs)
    result = _invoke("logs", "run-1", "--follow", "--poll", "0")
    assert result.exit_code == 0, result.output
    # "four" arrived after the job had ended: it is printed too.
    assert result.stdout.splitlines() == ["one", "two", "three", "four"]
    assert logs.reads >= 6


def test_logs_json_is_one_object_per_line(
    environment: DeployedEnvironment,
    clients: AwsClients,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _invoke("submit", str(_spec(tmp_path))).exit_code == 0
    stepfunctions = RecordedHistory(clients.stepfunctions, histories.running_job().newest_first())
    logs = GrowingLogs([["Hello [bold]x", "done"]])
    _use(monkeypatch, clients, stepfunctions=stepfunctions, batch=EndingBatch(0), logs=logs)
    result = _invoke("logs", "run-1", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["message"] for line in lines] == ["Hello [bold]x", "done"]
    assert all(set(line) == {"timestamp", "message"} for line in lines)
