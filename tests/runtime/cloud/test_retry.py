"""`demand retry` (Step Functions RedriveExecution) and the redrive count `demand status` shows.

moto 5.2.5 has no RedriveExecution (moto/stepfunctions/responses.py defines no
redrive_execution), so the calls are checked against botocore's Stubber: every request is
validated against the service model and answered as Step Functions answers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import typer
from botocore.stub import ANY, Stubber
from typer.testing import CliRunner

from runtime.cli import cloud as commands
from runtime.cli import operations
from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import ExecutionNotFoundError
from runtime.cloud.retry import RetryRefusedError, redrivable_until, retry_execution
from runtime.cloud.stack import DeployedEnvironment
from tests.runtime.cloud import histories
from tests.runtime.cloud.conftest import with_history

MACHINE = "arn:aws:states:us-west-2:123456789012:stateMachine:demand-dev"
EXECUTION = "arn:aws:states:us-west-2:123456789012:execution:demand-dev:run-1"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ENVIRONMENT = DeployedEnvironment(
    name="dev",
    stack_name="demand-dev",
    state_machine_arn=MACHINE,
    data_bucket="demand-dev-data",
    file_system_id="fs-1",
    job_queue="demand-dev-default",
    job_log_group="/aws/batch/job",
)


def as_step_functions_sends(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded histories with the fields the service model requires (Stubber checks)."""
    for event in events:
        if "taskScheduledEventDetails" in event:
            event["taskScheduledEventDetails"].setdefault("region", "us-west-2")
    return events


def timed_out_in_run_job() -> list[dict[str, Any]]:
    """Staged in, the job running, then the state machine's time limit: no failure handling."""
    history = histories.running_job()
    history.add("ExecutionTimedOut", executionTimedOutEventDetails={})
    return as_step_functions_sends(history.newest_first())


def failed_and_handled() -> list[dict[str, Any]]:
    """Under the state machine's earlier definition, which caught failures."""
    return as_step_functions_sends(histories.failed_job().newest_first())


def failed_in_run_job() -> list[dict[str, Any]]:
    return as_step_functions_sends(histories.job_failed().newest_first())


@pytest.fixture
def stepfunctions() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("stepfunctions", region_name="us-west-2")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def described(**changes: Any) -> dict[str, Any]:
    answer = {
        "executionArn": EXECUTION,
        "stateMachineArn": MACHINE,
        "name": "run-1",
        "status": "TIMED_OUT",
        "startDate": NOW - timedelta(hours=1),
        # Within the minutes before the cleanup of stopped executions removes its files.
        "stopDate": NOW - timedelta(minutes=5),
        "redriveCount": 0,
        "redriveStatus": "REDRIVABLE",
        **changes,
    }
    return {key: value for key, value in answer.items() if value is not None}


def definition(revision: str) -> dict[str, Any]:
    return {
        "stateMachineArn": MACHINE,
        "name": "demand-dev",
        "definition": "{}",
        "roleArn": "arn:aws:iam::123456789012:role/sm",
        "updateDate": NOW - timedelta(days=3),
        "revisionId": revision,
    }


def expect_checks(
    stubber: Stubber,
    execution: dict[str, Any],
    events: list[dict[str, Any]],
    *,
    revision_then: str = "r1",
    revision_now: str = "r1",
) -> None:
    arn = {"executionArn": EXECUTION}
    stubber.add_response("describe_execution", execution, arn)
    stubber.add_response(
        "get_execution_history",
        {"events": events},
        {**arn, "reverseOrder": True, "maxResults": 1000, "includeExecutionData": False},
    )
    stubber.add_response("describe_state_machine_for_execution", definition(revision_then), arn)
    now = definition(revision_now) | {"type": "STANDARD", "creationDate": NOW - timedelta(days=30)}
    now.pop("updateDate")
    stubber.add_response("describe_state_machine", now, {"stateMachineArn": MACHINE})


def test_a_timed_out_execution_is_redriven_from_where_it_stopped(
    stepfunctions: tuple[Any, Stubber],
) -> None:
    client, stubber = stepfunctions
    expect_checks(stubber, described(redriveCount=1), timed_out_in_run_job())
    stubber.add_response(
        "redrive_execution",
        {"redriveDate": NOW},
        {"executionArn": EXECUTION, "clientToken": ANY},
    )
    redriven = retry_execution(ENVIRONMENT, "run-1", client, now=NOW)
    assert redriven.execution_arn == EXECUTION
    assert redriven.redrive_count == 2
    assert redriven.resumes_at == "Run job"


def test_a_failed_execution_is_redriven_from_the_step_that_failed(
    stepfunctions: tuple[Any, Stubber],
) -> None:
    """The job failed and nothing caught it: its working files wait for the redrive window."""
    client, stubber = stepfunctions
    failed = described(status="FAILED", error="States.TaskFailed", cause="{}")
    expect_checks(stubber, failed, failed_in_run_job())
    stubber.add_response(
        "redrive_execution",
        {"redriveDate": NOW},
        {"executionArn": EXECUTION, "clientToken": ANY},
    )
    redriven = retry_execution(ENVIRONMENT, "run-1", client, now=NOW)
    assert redriven.redrive_count == 1
    assert redriven.resumes_at == "Run job"


@pytest.mark.parametrize(
    ("execution", "events", "revision_now", "reason"),
    [
        (described(status="RUNNING", stopDate=None), [], "r1", "it is still running"),
        (
            described(status="SUCCEEDED", redriveStatus="NOT_REDRIVABLE"),
            [],
            "r1",
            "it succeeded; there is nothing to resume",
        ),
        (
            described(stopDate=NOW - timedelta(days=15)),
            [],
            "r1",
            "it ended on 2026-11-17, more than 14 days ago",
        ),
        (
            described(stopDate=NOW - timedelta(minutes=14, seconds=1)),
            [],
            "r1",
            "it ended (TIMED_OUT) at 2026-12-02 11:45 UTC, 14 minutes ago, and what an "
            "execution that did not succeed holds (its working files, access points and job "
            "definition) is removed 15 minutes after it ends; submit the spec again",
        ),
        (
            described(status="ABORTED", stopDate=NOW - timedelta(days=2)),
            [],
            "r1",
            "it ended (ABORTED) at 2026-11-30 12:00 UTC, 2 days ago, and what",
        ),
        (
            described(status="FAILED", stopDate=NOW - timedelta(hours=3)),
            failed_in_run_job(),
            "r1",
            "it ended (FAILED) at 2026-12-02 09:00 UTC, 3 hours ago, and what",
        ),
        (
            described(status="FAILED", error="SpecError"),
            as_step_functions_sends(histories.prepare_refused().newest_first()),
            "r1",
            "Prepare refused its request (SpecError): a redrive would run the same request "
            "again; correct the spec and submit the spec again under a new execution_id",
        ),
        (
            described(
                redriveStatus="NOT_REDRIVABLE",
                redriveStatusReason="Execution history event limit exceeded",
            ),
            [],
            "r1",
            "Step Functions says it is not redrivable: Execution history event limit exceeded",
        ),
        (
            described(),
            timed_out_in_run_job(),
            "r2",
            "the state machine was redeployed on 2026-11-02",
        ),
        (
            described(status="FAILED"),
            failed_and_handled(),
            "r1",
            "its failure was already handled: 'Cleanup after failure' removed its working files",
        ),
    ],
)
def test_what_cannot_be_redriven_is_refused_saying_why(
    stepfunctions: tuple[Any, Stubber],
    execution: dict[str, Any],
    events: list[dict[str, Any]],
    revision_now: str,
    reason: str,
) -> None:
    client, stubber = stepfunctions
    expect_checks(stubber, execution, events, revision_now=revision_now)
    with pytest.raises(RetryRefusedError) as refused:
        retry_execution(ENVIRONMENT, "run-1", client, now=NOW)
    message = str(refused.value)
    assert message.startswith(f"cannot retry 'run-1': {reason}")
    assert "\n" not in message


def test_step_functions_refusing_the_redrive_is_one_line(
    stepfunctions: tuple[Any, Stubber],
) -> None:
    client, stubber = stepfunctions
    expect_checks(stubber, described(), timed_out_in_run_job())
    stubber.add_client_error(
        "redrive_execution",
        service_error_code="ExecutionNotRedrivable",
        service_message="Execution redrivable period exceeded.",
    )
    with pytest.raises(RetryRefusedError, match=r"redrivable period exceeded\.; submit the spec"):
        retry_execution(ENVIRONMENT, "run-1", client, now=NOW)


def test_an_unknown_execution_is_not_found(stepfunctions: tuple[Any, Stubber]) -> None:
    client, stubber = stepfunctions
    stubber.add_client_error("describe_execution", service_error_code="ExecutionDoesNotExist")
    with pytest.raises(ExecutionNotFoundError, match="no execution 'run-1' in environment 'dev'"):
        retry_execution(ENVIRONMENT, "run-1", client, now=NOW)


# --- the commands ---------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(commands.submit)
    app.command()(commands.status)
    app.command()(operations.retry)
    return app


def test_demand_retry_refuses_a_running_execution_in_one_line(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    clients.stepfunctions.start_execution(
        stateMachineArn=environment.state_machine_arn, name="run-1", input="{}"
    )
    result = CliRunner().invoke(_app(), ["retry", "run-1"])
    assert result.exit_code == 125
    assert result.stderr.strip() == "error: cannot retry 'run-1': it is still running"


def test_demand_status_shows_how_often_it_was_redriven(
    environment: DeployedEnvironment, clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients.stepfunctions.start_execution(
        stateMachineArn=environment.state_machine_arn, name="run-1", input="{}"
    )
    recorded = with_history(
        clients,
        timed_out_in_run_job(),
        status="RUNNING",
        redriveCount=2,
        redriveStatus="NOT_REDRIVABLE",
    )
    monkeypatch.setattr(AwsClients, "create", staticmethod(lambda region=None: recorded))
    result = CliRunner().invoke(_app(), ["status", "run-1"])
    assert result.exit_code == 0, result.output
    lines = {line[:10].strip(): line[11:] for line in result.stdout.splitlines()}
    assert lines["redriven"] == "2 time(s) (demand retry)"
    result = CliRunner().invoke(_app(), ["status", "run-1", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["redrive_count"] == 2
    assert document["redrive_status"] == "NOT_REDRIVABLE"  # running, as Step Functions says


@pytest.mark.parametrize(
    ("ended_ago", "line"),
    [
        (timedelta(minutes=5), "demand retry run-1 until "),
        (timedelta(minutes=20), "too late: its files are cleaned up 15 minutes after it ends"),
    ],
)
def test_demand_status_says_until_when_a_failure_can_be_retried(
    environment: DeployedEnvironment,
    clients: AwsClients,
    monkeypatch: pytest.MonkeyPatch,
    ended_ago: timedelta,
    line: str,
) -> None:
    clients.stepfunctions.start_execution(
        stateMachineArn=environment.state_machine_arn, name="run-1", input="{}"
    )
    ended = datetime.now(UTC) - ended_ago
    recorded = with_history(
        clients,
        failed_in_run_job(),
        status="FAILED",
        stopDate=ended,
        error="States.TaskFailed",
        redriveStatus="REDRIVABLE",
    )
    monkeypatch.setattr(AwsClients, "create", staticmethod(lambda region=None: recorded))
    result = CliRunner().invoke(_app(), ["status", "run-1"])
    assert result.exit_code == 0, result.output
    lines = {row[:10].strip(): row[11:] for row in result.stdout.splitlines()}
    assert lines["retry"].startswith(line)
    document = json.loads(CliRunner().invoke(_app(), ["status", "run-1", "--json"]).stdout)
    until = datetime.fromisoformat(document["redrivable_until"])
    assert until == ended + timedelta(minutes=14)


def test_no_retry_is_offered_where_a_redrive_cannot_apply() -> None:
    ended = NOW - timedelta(minutes=1)
    assert redrivable_until("SUCCEEDED", ended, None, None) is None
    assert redrivable_until("RUNNING", None, None, None) is None
    assert redrivable_until("FAILED", ended, "NOT_REDRIVABLE", "States.TaskFailed") is None
    assert redrivable_until("FAILED", ended, "REDRIVABLE", "SpecError") is None
    assert redrivable_until("ABORTED", ended, "REDRIVABLE", "Cancelled") == ended + timedelta(
        minutes=14
    )
