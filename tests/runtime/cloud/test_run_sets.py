"""The client side of deployed run sets against moto: the manifest and index put in S3, the
attempt started, every row's state gathered from its execution, failed rows retried under new
ids, a set cancelled. Stand-in state machines (a row fails when its parameter ``fail`` is
``yes``); the synthesized ones run in tests/e2e/test_run_sets.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
import yaml
from moto import mock_aws

from runtime.cloud.errors import CloudError, ExecutionExistsError
from runtime.cloud.run_sets import (
    Limits,
    RunSetNotFoundError,
    RunSetRetryRefusedError,
    RunSetRow,
    cancel_run_set,
    is_run_set,
    limits,
    retry_run_set,
    run_set_status,
    submit_run_set,
)
from runtime.cloud.stack import DeployedEnvironment
from runtime.errors import SpecError
from runtime.runsets.expansion import expand_run_set

REGION: Final = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/demand"
BUCKET = "demand-dev-data"
ROW_MACHINE = {
    "StartAt": "Fails?",
    "States": {
        "Fails?": {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.spec.execution_parameters.params.fail",
                    "StringEquals": "yes",
                    "Next": "Fail",
                },
                {
                    "Variable": "$.spec.execution_parameters.params.fail",
                    "StringEquals": "wait",
                    "Next": "Wait",
                },
            ],
            "Default": "Done",
        },
        "Wait": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Fail": {"Type": "Fail", "Error": "JobFailed", "Cause": "exit code 3"},
        "Done": {"Type": "Succeed"},
    },
}
TEMPLATE = {
    "execution_id": "sweep",
    "execution_image": "bash",
    "execution_parameters": {"command": ["echo", "${sample}"], "params": {"fail": "no"}},
}


class Deployed:
    def __init__(self, *, set_machine_waits: bool) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.batch = boto3.client("batch", region_name=REGION)
        self.s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        rows = self.sfn.create_state_machine(
            name="demand-dev", roleArn=ROLE, definition=json.dumps(ROW_MACHINE)
        )["stateMachineArn"]
        state = (
            {"Type": "Wait", "Seconds": 3600, "End": True}
            if set_machine_waits
            else {
                "Type": "Pass",
                "End": True,
            }
        )
        sets = self.sfn.create_state_machine(
            name="demand-dev-sets",
            roleArn=ROLE,
            definition=json.dumps({"StartAt": "Rows", "States": {"Rows": state}}),
        )["stateMachineArn"]
        self.environment = DeployedEnvironment(
            name="dev",
            stack_name="demand-dev",
            state_machine_arn=rows,
            data_bucket=BUCKET,
            file_system_id="fs-0123456789abcdef0",
            job_queue="demand-dev-default",
            job_log_group="/aws/batch/job",
            run_set_state_machine_arn=sets,
            run_set_max_concurrency=50,
            run_set_tolerated_failure_percentage=100,
        )

    def submit(self, rows: list[RunSetRow], set_id: str = "sweep-1") -> Any:
        return submit_run_set(
            self.environment, set_id, rows, Limits(10, 100), s3=self.s3, stepfunctions=self.sfn
        )

    def run_row(self, row: RunSetRow | dict[str, Any]) -> str:
        spec = row.spec if isinstance(row, RunSetRow) else row
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.environment.state_machine_arn,
                name=str(spec["execution_id"]),
                input=json.dumps({"spec": spec}),
            )["executionArn"]
        )

    def wait(self, arn: str) -> str:
        for _ in range(600):
            status = str(self.sfn.describe_execution(executionArn=arn)["status"])
            if status != "RUNNING":
                return status
            time.sleep(0.05)
        raise TimeoutError(arn)

    def status(self) -> Any:
        return run_set_status(self.environment, "sweep-1", s3=self.s3, stepfunctions=self.sfn)

    def get(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield Deployed(set_machine_waits=False)


@pytest.fixture
def waiting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield Deployed(set_machine_waits=True)


def rows_of(tmp_path: Path, failing: dict[int, str], count: int = 5) -> list[RunSetRow]:
    template = tmp_path / "template.yaml"
    template.write_text(yaml.safe_dump(TEMPLATE))
    table = tmp_path / "rows.csv"
    lines = [f"s{n},{failing.get(n, 'no')}" for n in range(1, count + 1)]
    table.write_text("sample,fail\n" + "\n".join(lines) + "\n")
    run_set = expand_run_set(template, table, set_id="sweep-1")
    return [RunSetRow(row.number, row.request.model_dump(mode="json")) for row in run_set.rows]


def test_submit_puts_the_manifest_and_index_and_starts_the_first_attempt(
    deployed: Deployed, tmp_path: Path
) -> None:
    rows = rows_of(tmp_path, {})
    submitted = deployed.submit(rows)
    assert submitted.manifest == f"s3://{BUCKET}/demand-run-sets/sweep-1/attempt-0/manifest.json"
    manifest = deployed.get("demand-run-sets/sweep-1/attempt-0/manifest.json")
    assert manifest == [{"row": row.row, "spec": dict(row.spec)} for row in rows]
    index = deployed.get("demand-run-sets/sweep-1/attempt-0/rows.json")
    assert index["rows"] == [[n, f"sweep-1-{n}"] for n in range(1, 6)]
    described = deployed.sfn.describe_execution(executionArn=submitted.execution_arn)
    assert submitted.execution_arn.endswith(":execution:demand-dev-sets:sweep-1")
    assert json.loads(described["input"]) == {
        "set_id": "sweep-1",
        "attempt": 0,
        "manifest_key": "demand-run-sets/sweep-1/attempt-0/manifest.json",
        "rows_key": "demand-run-sets/sweep-1/attempt-0/rows.json",
        "max_concurrency": 10,
        "tolerated_failure_percentage": 100,
    }
    assert is_run_set(deployed.environment, "sweep-1", deployed.sfn)
    assert not is_run_set(deployed.environment, "sweep-2", deployed.sfn)
    # The same set again is recognised and refused, whatever its state.
    with pytest.raises(ExecutionExistsError, match="run set 'sweep-1' was submitted already"):
        deployed.submit(rows)


def test_the_status_gathers_every_rows_state_from_its_execution(
    deployed: Deployed, tmp_path: Path
) -> None:
    rows = rows_of(tmp_path, {2: "yes"})
    deployed.submit(rows)
    # What the Distributed Map would have done: rows 1-4 run (row 2 fails), row 5 never starts.
    arns = [deployed.run_row(row) for row in rows[:4]]
    assert [deployed.wait(arn) for arn in arns] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    status = deployed.status()
    assert status.state == "SUCCEEDED"
    assert status.counts == {"SUCCEEDED": 3, "FAILED": 1, "NOT_STARTED": 1}
    assert [(row.row, row.state) for row in status.failed] == [(2, "FAILED"), (5, "NOT_STARTED")]
    failed, never = status.failed
    assert (failed.execution_id, failed.error, failed.cause) == (
        "sweep-1-2",
        "JobFailed",
        "exit code 3",
    )
    assert never.error == "NotStarted"
    with pytest.raises(RunSetNotFoundError, match="no run set 'other'"):
        run_set_status(deployed.environment, "other", s3=deployed.s3, stepfunctions=deployed.sfn)


def test_retry_runs_only_the_rows_that_did_not_succeed_under_new_ids(
    deployed: Deployed, tmp_path: Path
) -> None:
    rows = rows_of(tmp_path, {2: "yes"})
    deployed.submit(rows)
    for row in rows[:4]:
        deployed.wait(deployed.run_row(row))
    retried = retry_run_set(
        deployed.environment, "sweep-1", s3=deployed.s3, stepfunctions=deployed.sfn
    )
    assert retried.attempt == "sweep-1-r1"
    assert retried.rows == [(2, "sweep-1-2", "sweep-1-2-r1"), (5, "sweep-1-5", "sweep-1-5-r1")]
    manifest = deployed.get("demand-run-sets/sweep-1/attempt-1/manifest.json")
    assert [item["row"] for item in manifest] == [2, 5]
    assert [item["spec"]["execution_id"] for item in manifest] == ["sweep-1-2-r1", "sweep-1-5-r1"]
    assert manifest[0]["spec"]["execution_parameters"] == rows[1].spec["execution_parameters"]
    # The retried rows run (this time row 2 passes); the set's rows are all its latest.
    for item in manifest:
        spec = item["spec"] | {
            "execution_parameters": {**item["spec"]["execution_parameters"], "params": {}}
        }
        deployed.wait(deployed.run_row(spec))
    status = deployed.status()
    assert status.counts == {"SUCCEEDED": 5}
    assert [attempt.name for attempt in status.attempts] == ["sweep-1", "sweep-1-r1"]
    assert [row.execution_id for row in status.rows][:2] == ["sweep-1-1", "sweep-1-2-r1"]
    with pytest.raises(RunSetRetryRefusedError, match="every one of its 5 rows succeeded"):
        retry_run_set(deployed.environment, "sweep-1", s3=deployed.s3, stepfunctions=deployed.sfn)


def test_a_running_set_is_not_retried_and_is_cancelled_with_its_rows(
    waiting: Deployed, tmp_path: Path
) -> None:
    rows = rows_of(tmp_path, {1: "wait", 2: "wait"}, count=3)
    waiting.submit(rows)
    first, second = waiting.run_row(rows[0]), waiting.run_row(rows[1])
    waiting.wait(waiting.run_row(rows[2]))
    status = waiting.status()
    assert status.state == "RUNNING"
    assert status.counts == {"RUNNING": 2, "SUCCEEDED": 1}
    with pytest.raises(RunSetRetryRefusedError, match="it is still running"):
        retry_run_set(waiting.environment, "sweep-1", s3=waiting.s3, stepfunctions=waiting.sfn)
    cancelled = cancel_run_set(
        waiting.environment,
        "sweep-1",
        s3=waiting.s3,
        stepfunctions=waiting.sfn,
        batch=waiting.batch,
    )
    assert cancelled.attempts == ["sweep-1"]
    assert sorted(cancelled.rows) == ["sweep-1-1", "sweep-1-2"]
    assert [waiting.wait(arn) for arn in (first, second)] == ["ABORTED", "ABORTED"]
    status = waiting.status()
    assert status.state == "ABORTED"
    assert status.counts == {"ABORTED": 2, "SUCCEEDED": 1}
    with pytest.raises(CloudError, match="not running: nothing to cancel"):
        cancel_run_set(
            waiting.environment,
            "sweep-1",
            s3=waiting.s3,
            stepfunctions=waiting.sfn,
            batch=waiting.batch,
        )


def test_a_row_too_large_for_a_states_input_is_refused_by_row(
    deployed: Deployed, tmp_path: Path
) -> None:
    rows = rows_of(tmp_path, {}, count=2)
    huge = RunSetRow(2, {**rows[1].spec, "execution_metadata": {"user": "x" * 300_000}})
    with pytest.raises(SpecError) as refused:
        deployed.submit([rows[0], huge])
    (problem,) = refused.value.problems
    assert problem.startswith("row 2: its request is 293 KiB as JSON")
    assert deployed.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0  # nothing put


def test_the_limits_are_the_environments_and_refused_beyond(deployed: Deployed) -> None:
    environment = deployed.environment
    assert limits(environment) == Limits(50, 100)
    assert limits(environment, max_concurrency=5, tolerated_failure_percentage=10) == Limits(5, 10)
    with pytest.raises(SpecError) as refused:
        limits(environment, max_concurrency=51)
    assert refused.value.problems == [
        "--max-concurrency: 'dev' runs at most 50 rows of a set at once (its "
        "run_sets.max_concurrency), got 51"
    ]
    older = DeployedEnvironment(
        name="dev",
        stack_name="demand-dev",
        state_machine_arn=environment.state_machine_arn,
        data_bucket=BUCKET,
        file_system_id="fs-0123456789abcdef0",
        job_queue="q",
        job_log_group="/aws/batch/job",
    )
    with pytest.raises(CloudError, match="has no run-set state machine: redeploy it"):
        limits(older)
    assert not is_run_set(older, "sweep-1", deployed.sfn)


def test_the_set_flags_of_submit_need_a_table() -> None:
    from typer.testing import CliRunner

    from runtime.cli.app import app

    result = CliRunner().invoke(app, ["submit", "spec.yaml", "--max-concurrency", "3"])
    assert result.exit_code == 125
    assert result.stderr == (
        "error: --set-id, --max-concurrency and --tolerated-failure-percentage are for a run "
        "set: pass --table too\n"
    )
