"""A deployed environment's run sets on the command line: ``demand submit TEMPLATE --table
ROWS`` and what ``demand status``, ``demand retry`` and ``demand cancel`` do when given a set
id (runtime/cloud/run_sets.py does the work)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import CloudError
from runtime.cloud.notify import with_recipients
from runtime.cloud.run_sets import (
    ENDED_BADLY,
    RunSetRow,
    RunSetStatus,
    cancel_run_set,
    limits,
    retry_run_set,
    run_set_status,
    submit_run_set,
)
from runtime.cloud.stack import DeployedEnvironment
from runtime.exit_codes import EXIT_ROWS_FAILED, EXIT_SUCCEEDED, EXIT_TERMINATED
from runtime.plan.builder import build_plan
from runtime.plan.configuration import PlanningConfiguration
from runtime.runsets.expansion import check_rows, expand_run_set
from runtime.spec import DemandExecution


def _s3(clients: AwsClients) -> Any:
    if clients.s3 is None:
        raise CloudError("no S3 client: run sets need one")
    return clients.s3


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def submit_set(
    template: Path,
    table: Path,
    *,
    env: str,
    environment: DeployedEnvironment,
    clients: AwsClients,
    planning: PlanningConfiguration,
    set_id: str | None,
    notify: list[str],
    max_concurrency: int | None,
    tolerated_failure_percentage: float | None,
    json_output: bool,
) -> str:
    """Validate and plan every row as the environment's Prepare would, then start the set;
    print its id (``--json``: the document of docs/cli.md). Returns the set id."""
    chosen = limits(
        environment,
        max_concurrency=max_concurrency,
        tolerated_failure_percentage=tolerated_failure_percentage,
    )
    run_set = expand_run_set(template, table, set_id=set_id)

    def planned(request: DemandExecution) -> None:
        build_plan(with_recipients(request, notify), planning.volumes, planning.context)

    check_rows(run_set, planned)
    rows = [
        RunSetRow(
            row=row.number,
            spec=with_recipients(row.request, notify).model_dump(mode="json"),
        )
        for row in run_set.rows
    ]
    submitted = submit_run_set(
        environment,
        run_set.set_id,
        rows,
        chosen,
        s3=_s3(clients),
        stepfunctions=clients.stepfunctions,
    )
    if json_output:
        document = {
            "set_id": submitted.set_id,
            "execution_arn": submitted.execution_arn,
            "rows": submitted.rows,
            "manifest": submitted.manifest,
            "max_concurrency": chosen.max_concurrency,
            "tolerated_failure_percentage": chosen.tolerated_failure_percentage,
            "environment": env,
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(submitted.set_id)
        typer.echo(
            f"started run set {submitted.set_id}: {submitted.rows} rows, at most "
            f"{chosen.max_concurrency} at once ({submitted.execution_arn}); follow it with: "
            f"demand status {submitted.set_id} --env {env}",
            err=True,
        )
    return submitted.set_id


def set_status(environment: DeployedEnvironment, set_id: str, clients: AwsClients) -> RunSetStatus:
    return run_set_status(environment, set_id, s3=_s3(clients), stepfunctions=clients.stepfunctions)


def wait_for_set(
    environment: DeployedEnvironment,
    set_id: str,
    clients: AwsClients,
    poll: float,
    sleep: Callable[[float], None] = time.sleep,
) -> RunSetStatus:
    """Ask until no attempt of the set runs; a line on stderr whenever the counts change."""
    shown: dict[str, int] | None = None
    while True:
        status = set_status(environment, set_id, clients)
        if status.finished:
            return status
        if status.counts != shown:
            shown = status.counts
            typer.echo(f"waiting: {set_id} {_counts(status)}", err=True)
        sleep(poll)


def set_exit_code(status: RunSetStatus) -> int:
    """docs/cli.md's table for a set: 0 every row succeeded, 143 the set was stopped or timed
    out, 123 some row did not succeed; 0 while it runs (without --wait)."""
    if not status.finished:
        return EXIT_SUCCEEDED
    if status.state in ("ABORTED", "TIMED_OUT"):
        return EXIT_TERMINATED
    return EXIT_ROWS_FAILED if status.unsucceeded else EXIT_SUCCEEDED


def _counts(status: RunSetStatus) -> str:
    return ", ".join(f"{n} {state.lower()}" for state, n in sorted(status.counts.items()))


def set_status_document(status: RunSetStatus) -> dict[str, Any]:
    code = set_exit_code(status)
    failure = None
    if status.finished and code:
        failure = "interrupted" if code == EXIT_TERMINATED else "rows"
    return {
        "set_id": status.set_id,
        "state": status.state,
        "rows": len(status.rows),
        "counts": status.counts,
        "attempts": [
            {
                "name": attempt.name,
                "state": attempt.state,
                "started": _iso(attempt.started),
                "stopped": _iso(attempt.stopped),
                "rows": len(attempt.rows),
                "error": attempt.error,
                "cause": attempt.cause,
            }
            for attempt in status.attempts
        ],
        "failed_rows": len(status.unsucceeded),
        "failed": [
            {
                "row": row.row,
                "execution_id": row.execution_id,
                "state": row.state,
                "failed_step": row.failed_step,
                "error": row.error,
                "cause": row.cause,
                "failure": row.failure,
                "exit_code": row.exit_code,
            }
            for row in status.failed
        ],
        "failure": failure,
        "exit_code": code if status.finished else None,
    }


def print_set_status(status: RunSetStatus, json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps(set_status_document(status), indent=2))
        return
    first, last = status.attempts[0], status.attempts[-1]
    lines = [
        ("run set", status.set_id),
        ("state", status.state),
        ("rows", f"{len(status.rows)}: {_counts(status)}"),
        ("started", _when(first.started)),
        ("stopped", _when(last.stopped) if status.finished else "-"),
    ]
    if len(status.attempts) > 1:
        names = ", ".join(f"{a.name} {a.state}" for a in status.attempts)
        lines.append(("attempts", names))
    if last.error and last.state in ENDED_BADLY:
        lines.append(("error", f"{last.error}: {last.cause or '-'}"))
    for label, value in lines:
        typer.echo(f"{label:<10} {value}")
    for row in status.failed:
        where = f" in {row.failed_step}" if row.failed_step else ""
        code = f", exit code {row.exit_code}" if row.exit_code is not None else ""
        typer.echo(
            f"row {row.row} ({row.execution_id}): {row.state}{where}{code}: "
            f"{row.error or '-'}: {row.cause or '-'}"
        )
    more = len(status.unsucceeded) - len(status.failed)
    if more > 0:
        typer.echo(f"... and {more} more rows that did not succeed (--json lists the first ones)")


def retry_set(environment: DeployedEnvironment, set_id: str, clients: AwsClients, env: str) -> None:
    retried = retry_run_set(
        environment, set_id, s3=_s3(clients), stepfunctions=clients.stepfunctions
    )
    typer.echo(
        f"{retried.execution_arn}: running {len(retried.rows)} rows of run set {set_id} "
        f"again as {retried.attempt}; follow it with: demand status {set_id} --env {env}"
    )
    for row, old, new in retried.rows[:20]:
        typer.echo(f"row {row}: {old} -> {new}")
    if len(retried.rows) > 20:
        typer.echo(f"... and {len(retried.rows) - 20} more rows")


def cancel_set(environment: DeployedEnvironment, set_id: str, clients: AwsClients) -> None:
    cancelled = cancel_run_set(
        environment,
        set_id,
        s3=_s3(clients),
        stepfunctions=clients.stepfunctions,
        batch=clients.batch,
    )
    if cancelled.attempts:
        typer.echo(f"stopped run set {set_id} ({', '.join(cancelled.attempts)})")
    typer.echo(f"stopped {len(cancelled.rows)} running rows")
    if cancelled.jobs:
        typer.echo(f"terminated {len(cancelled.jobs)} Batch jobs")
