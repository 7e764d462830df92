"""A deployed environment's run sets: submitting one, its status, retrying its failed rows,
cancelling it. The rows run on Step Functions' own engine (infra/constructs/run_sets.py); this
module only puts manifests in S3 and asks Step Functions.

A set is one or more *attempts*, each an execution of the run-set state machine over a
manifest: attempt 0 is named after the set id and runs every row; ``demand retry SET`` makes
attempt N (``<set id>-r<N>``) over the rows that did not succeed, each under a new execution id
(``<row id>-r<N>``: an execution name is never used twice, and a failure the state machine has
handled cannot be redriven). Each attempt's input names its manifest and its rows' index in
the data bucket (``demand-run-sets/<set id>/attempt-<N>/``), so what a set ran is found from
Step Functions and S3 alone, from any machine.

A row's state is its latest attempt's execution's, from listing the environment's executions
(newest first, back to when the set started): so ``demand status SET`` asks one ListExecutions
page per 1,000 executions the environment started since the set did, and the execution history
of each failed row it shows (at most :data:`FAILED_ROWS_DETAILED`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import contract
from runtime.cloud.errors import CloudError, ExecutionExistsError, ExecutionNotFoundError
from runtime.cloud.executions import CANCEL_ERROR, cancel_execution, execution_status
from runtime.cloud.stack import DeployedEnvironment
from runtime.errors import SpecError

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

# A row's execution starts on {"spec": ...}: within Step Functions' 256 KiB of state input,
# with room for what the Distributed Map and the state machine add around it.
MAX_ROW_BYTES = 250 * 1024
# Retries of one set: a row's id has room for "-r99" (runtime/runsets/expansion.py).
MAX_ATTEMPTS = 100
FAILED_ROWS_DETAILED = 50
# Listing executions back to the set's start, less this, for clocks that disagree a little.
LISTING_SLACK = timedelta(minutes=5)
# Read at most this much of a set's own files (a 100,000-row manifest is far below it).
MAX_SET_FILE_BYTES = 1024 * 2**20
ENDED_BADLY = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# A row with no execution: its attempt still runs (PENDING), or ended without starting it.
NOT_RUN = frozenset({"PENDING", "NOT_STARTED"})


class RunSetNotFoundError(ExecutionNotFoundError):
    """No run set by that id in the environment."""


class RunSetRetryRefusedError(CloudError):
    """The set cannot be retried now; the message says why."""


@dataclass(frozen=True)
class RunSetRow:
    """A row as a manifest holds it: its number in the table and its whole request."""

    row: int
    spec: Mapping[str, Any]

    @property
    def execution_id(self) -> str:
        return str(self.spec["execution_id"])


@dataclass(frozen=True)
class Limits:
    max_concurrency: int
    tolerated_failure_percentage: float


@dataclass(frozen=True)
class Submitted:
    set_id: str
    attempt: str  # the run-set execution's name
    execution_arn: str
    rows: int
    manifest: str  # s3:// URI


@dataclass(frozen=True)
class Attempt:
    name: str
    number: int
    state: str
    started: datetime
    stopped: datetime | None
    rows: list[tuple[int, str]]  # (row, execution id)
    limits: Limits
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class RowStatus:
    row: int
    execution_id: str
    state: str
    failed_step: str | None = None
    error: str | None = None
    cause: str | None = None
    failure: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class RunSetStatus:
    set_id: str
    state: str  # RUNNING while an attempt runs, else the latest attempt's
    attempts: list[Attempt]
    rows: list[RowStatus]  # every row, by row number
    failed: list[RowStatus] = field(default_factory=list)  # at most FAILED_ROWS_DETAILED

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(row.state for row in self.rows))

    @property
    def unsucceeded(self) -> list[RowStatus]:
        return [row for row in self.rows if row.state in ENDED_BADLY or row.state == "NOT_STARTED"]

    @property
    def finished(self) -> bool:
        return self.state != "RUNNING"


@dataclass(frozen=True)
class Retried:
    set_id: str
    attempt: str
    execution_arn: str
    rows: list[tuple[int, str, str]]  # (row, the id it failed under, its new id)


@dataclass(frozen=True)
class Cancelled:
    set_id: str
    attempts: list[str]
    rows: list[str]
    jobs: list[str]


# --- names and places -------------------------------------------------------------------------


def attempt_name(set_id: str, attempt: int) -> str:
    return set_id if attempt == 0 else f"{set_id}-r{attempt}"


def retried_id(execution_id: str, attempt: int) -> str:
    return f"{execution_id}-r{attempt}"


def attempt_prefix(set_id: str, attempt: int) -> str:
    return f"{contract.RUN_SET_PREFIX}{set_id}/attempt-{attempt}/"


def _state_machine(environment: DeployedEnvironment) -> str:
    if environment.run_set_state_machine_arn is None:
        raise CloudError(
            f"environment {environment.name!r} (stack {environment.stack_name}) has no run-set "
            "state machine: redeploy it with this version of the project"
        )
    return environment.run_set_state_machine_arn


def _execution_arn(state_machine_arn: str, name: str) -> str:
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    if not prefix:
        raise CloudError(f"not a state machine ARN: {state_machine_arn}")
    return f"{prefix}:execution:{machine}:{name}"


def limits(
    environment: DeployedEnvironment,
    *,
    max_concurrency: int | None = None,
    tolerated_failure_percentage: float | None = None,
) -> Limits:
    """What a set asks for, within (and by default) the environment's settings."""
    _state_machine(environment)
    most = environment.run_set_max_concurrency or 1
    tolerated = environment.run_set_tolerated_failure_percentage
    tolerated = 100.0 if tolerated is None else tolerated
    problems = []
    if max_concurrency is not None and not 1 <= max_concurrency <= most:
        problems.append(
            f"--max-concurrency: {environment.name!r} runs at most {most} rows of a set at once "
            f"(its run_sets.max_concurrency), got {max_concurrency}"
        )
    if tolerated_failure_percentage is not None and not (
        0 <= tolerated_failure_percentage <= tolerated
    ):
        problems.append(
            f"--tolerated-failure-percentage: {environment.name!r} tolerates 0–{tolerated:g} "
            f"(its run_sets.tolerated_failure_percentage), got {tolerated_failure_percentage:g}"
        )
    if problems:
        raise SpecError(problems)
    return Limits(
        max_concurrency=most if max_concurrency is None else max_concurrency,
        tolerated_failure_percentage=(
            tolerated if tolerated_failure_percentage is None else tolerated_failure_percentage
        ),
    )


# --- files in S3 ------------------------------------------------------------------------------


def manifest_body(rows: Sequence[RunSetRow]) -> tuple[bytes, list[str]]:
    """The manifest (a JSON list of ``{"row", "spec"}``, what the Distributed Map reads) and
    the rows too large to run as one execution each (one line each, naming the row)."""
    parts, problems = [], []
    for row in rows:
        item = json.dumps({"row": row.row, "spec": row.spec}, separators=(",", ":"))
        if len(item.encode()) > MAX_ROW_BYTES:
            problems.append(
                f"row {row.row}: its request is {len(item.encode()) // 1024} KiB as JSON, more "
                f"than a run set's row may be ({MAX_ROW_BYTES // 1024} KiB: Step Functions "
                "passes each row in a state's input)"
            )
        parts.append(item)
    return ("[" + ",".join(parts) + "]").encode(), problems


def _index_body(set_id: str, attempt: int, rows: Iterable[tuple[int, str]]) -> bytes:
    document = {"set_id": set_id, "attempt": attempt, "rows": [list(row) for row in rows]}
    return json.dumps(document, separators=(",", ":")).encode()


def _read(s3: S3Client, bucket: str, key: str) -> bytes:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise CloudError(
                f"s3://{bucket}/{key} is gone: the run set's files were removed"
            ) from None
        raise
    body = response["Body"].read(MAX_SET_FILE_BYTES + 1)
    if len(body) > MAX_SET_FILE_BYTES:
        raise CloudError(f"s3://{bucket}/{key}: larger than a run set's file may be")
    return bytes(body)


def _upload(
    environment: DeployedEnvironment,
    s3: S3Client,
    set_id: str,
    attempt: int,
    rows: Sequence[RunSetRow],
) -> tuple[str, str]:
    body, problems = manifest_body(rows)
    if problems:
        raise SpecError(problems)
    prefix = attempt_prefix(set_id, attempt)
    manifest_key, rows_key = f"{prefix}manifest.json", f"{prefix}rows.json"
    bucket = environment.data_bucket
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=body, ContentType="application/json")
    index = _index_body(set_id, attempt, ((row.row, row.execution_id) for row in rows))
    s3.put_object(Bucket=bucket, Key=rows_key, Body=index, ContentType="application/json")
    return manifest_key, rows_key


def _start(
    environment: DeployedEnvironment,
    stepfunctions: SFNClient,
    set_id: str,
    attempt: int,
    keys: tuple[str, str],
    chosen: Limits,
) -> str:
    name = attempt_name(set_id, attempt)
    document = {
        "set_id": set_id,
        "attempt": attempt,
        "manifest_key": keys[0],
        "rows_key": keys[1],
        "max_concurrency": chosen.max_concurrency,
        "tolerated_failure_percentage": chosen.tolerated_failure_percentage,
    }
    try:
        response = stepfunctions.start_execution(
            stateMachineArn=_state_machine(environment), name=name, input=json.dumps(document)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise ExecutionExistsError(
                f"run set {set_id!r}: {name} was started meanwhile (by another submit or retry)"
            ) from None
        raise
    return response["executionArn"]


# --- submit -----------------------------------------------------------------------------------


def submit_run_set(
    environment: DeployedEnvironment,
    set_id: str,
    rows: Sequence[RunSetRow],
    chosen: Limits,
    *,
    s3: S3Client,
    stepfunctions: SFNClient,
) -> Submitted:
    """Upload the set's manifest and start its first attempt. A set id already used — the same
    template and table submitted again — is refused, whatever its state."""
    existing = _describe(environment, attempt_name(set_id, 0), stepfunctions)
    if existing is not None:
        raise ExecutionExistsError(
            f"run set {set_id!r} was submitted already ({existing['status']}, started "
            f"{existing['startDate']:%Y-%m-%d %H:%M:%S %Z}): see it with 'demand status "
            f"{set_id}', run its rows that did not succeed with 'demand retry {set_id}', or "
            "submit it under another --set-id"
        )
    keys = _upload(environment, s3, set_id, 0, rows)
    arn = _start(environment, stepfunctions, set_id, 0, keys, chosen)
    return Submitted(
        set_id=set_id,
        attempt=attempt_name(set_id, 0),
        execution_arn=arn,
        rows=len(rows),
        manifest=f"s3://{environment.data_bucket}/{keys[0]}",
    )


# --- status -----------------------------------------------------------------------------------


def _describe(
    environment: DeployedEnvironment, name: str, stepfunctions: SFNClient
) -> Mapping[str, Any] | None:
    arn = _execution_arn(_state_machine(environment), name)
    try:
        return stepfunctions.describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            return None
        raise


def is_run_set(environment: DeployedEnvironment, set_id: str, stepfunctions: SFNClient) -> bool:
    """Whether ``set_id`` names a run set of the environment (False where it has none)."""
    if environment.run_set_state_machine_arn is None:
        return False
    return _describe(environment, attempt_name(set_id, 0), stepfunctions) is not None


def attempts(
    environment: DeployedEnvironment, set_id: str, s3: S3Client, stepfunctions: SFNClient
) -> list[Attempt]:
    """The set's attempts, first to last, each with the rows it ran."""
    found: list[Attempt] = []
    for number in range(MAX_ATTEMPTS):
        name = attempt_name(set_id, number)
        described = _describe(environment, name, stepfunctions)
        if described is None:
            break
        given = json.loads(described.get("input") or "{}")
        index = json.loads(_read(s3, environment.data_bucket, str(given["rows_key"])))
        found.append(
            Attempt(
                name=name,
                number=number,
                state=described["status"],
                started=described["startDate"],
                stopped=described.get("stopDate"),
                rows=[(int(row), str(execution_id)) for row, execution_id in index["rows"]],
                limits=Limits(
                    max_concurrency=int(given.get("max_concurrency", 1)),
                    tolerated_failure_percentage=float(
                        given.get("tolerated_failure_percentage", 100)
                    ),
                ),
                error=described.get("error"),
                cause=described.get("cause"),
            )
        )
    if not found:
        raise RunSetNotFoundError(f"no run set {set_id!r} in environment {environment.name!r}")
    return found


def _row_states(
    environment: DeployedEnvironment,
    wanted: set[str],
    since: datetime,
    stepfunctions: SFNClient,
) -> dict[str, str]:
    """The state of each wanted execution, from the environment's executions, newest first,
    back to ``since``."""
    states: dict[str, str] = {}
    paginator = stepfunctions.get_paginator("list_executions")
    pages = paginator.paginate(
        stateMachineArn=environment.state_machine_arn, PaginationConfig={"PageSize": 1000}
    )
    for page in pages:
        for item in page["executions"]:
            if item["name"] in wanted:
                states.setdefault(item["name"], item["status"])
            if len(states) == len(wanted) or item["startDate"] < since - LISTING_SLACK:
                return states
    return states


def run_set_status(
    environment: DeployedEnvironment,
    set_id: str,
    *,
    s3: S3Client,
    stepfunctions: SFNClient,
    detailed: int = FAILED_ROWS_DETAILED,
) -> RunSetStatus:
    """Every row's state and, for the first ``detailed`` rows that did not succeed, why."""
    tried = attempts(environment, set_id, s3, stepfunctions)
    latest: dict[int, tuple[str, Attempt]] = {}
    for attempt in tried:
        for row, execution_id in attempt.rows:
            latest[row] = (execution_id, attempt)
    states = _row_states(
        environment,
        {execution_id for execution_id, _ in latest.values()},
        tried[0].started,
        stepfunctions,
    )
    rows = []
    for row in sorted(latest):
        execution_id, attempt = latest[row]
        state = states.get(execution_id)
        if state is None:
            state = "PENDING" if attempt.state == "RUNNING" else "NOT_STARTED"
        rows.append(RowStatus(row=row, execution_id=execution_id, state=state))
    running = any(attempt.state == "RUNNING" for attempt in tried)
    status = RunSetStatus(
        set_id=set_id,
        state="RUNNING" if running else tried[-1].state,
        attempts=tried,
        rows=rows,
    )
    failed = [_why(environment, row, stepfunctions) for row in status.unsucceeded[:detailed]]
    return RunSetStatus(set_id=set_id, state=status.state, attempts=tried, rows=rows, failed=failed)


def _why(environment: DeployedEnvironment, row: RowStatus, stepfunctions: SFNClient) -> RowStatus:
    if row.state == "NOT_STARTED":
        return RowStatus(
            row=row.row,
            execution_id=row.execution_id,
            state=row.state,
            error="NotStarted",
            cause=(
                f"the run set ended without starting {row.execution_id} (stopped or failed "
                "first, or another execution holds the id)"
            ),
        )
    found = execution_status(environment, row.execution_id, stepfunctions)
    return RowStatus(
        row=row.row,
        execution_id=row.execution_id,
        state=found.state,
        failed_step=found.failed_step,
        error=found.error,
        cause=found.cause,
        failure=found.failure,
        exit_code=found.exit_code,
    )


# --- retry ------------------------------------------------------------------------------------


def retry_run_set(
    environment: DeployedEnvironment, set_id: str, *, s3: S3Client, stepfunctions: SFNClient
) -> Retried:
    """A new attempt over the rows that did not succeed, each under a new execution id."""
    status = run_set_status(environment, set_id, s3=s3, stepfunctions=stepfunctions, detailed=0)
    if not status.finished:
        raise RunSetRetryRefusedError(
            f"cannot retry run set {set_id!r}: it is still running; wait until it ends "
            f"('demand status {set_id} --wait') or stop it ('demand cancel {set_id}')"
        )
    again = {row.row for row in status.unsucceeded}
    if not again:
        raise RunSetRetryRefusedError(
            f"cannot retry run set {set_id!r}: every one of its {len(status.rows)} rows succeeded"
        )
    number = len(status.attempts)
    if number >= MAX_ATTEMPTS:
        raise RunSetRetryRefusedError(
            f"cannot retry run set {set_id!r}: retried {number - 1} times already, the most a "
            "row's id has room for; submit it again under another --set-id"
        )
    first = status.attempts[0]
    manifest = json.loads(
        _read(s3, environment.data_bucket, f"{attempt_prefix(set_id, 0)}manifest.json")
    )
    specs = {int(item["row"]): item["spec"] for item in manifest}
    base = dict(first.rows)
    latest = {row.row: row.execution_id for row in status.rows}
    rows = [
        RunSetRow(row=row, spec={**specs[row], "execution_id": retried_id(base[row], number)})
        for row in sorted(again)
    ]
    keys = _upload(environment, s3, set_id, number, rows)
    arn = _start(environment, stepfunctions, set_id, number, keys, status.attempts[-1].limits)
    return Retried(
        set_id=set_id,
        attempt=attempt_name(set_id, number),
        execution_arn=arn,
        rows=[(row.row, latest[row.row], row.execution_id) for row in rows],
    )


# --- cancel -----------------------------------------------------------------------------------


def cancel_run_set(
    environment: DeployedEnvironment,
    set_id: str,
    *,
    s3: S3Client,
    stepfunctions: SFNClient,
    batch: BatchClient,
) -> Cancelled:
    """Stop the set's running attempts (no row starts after it), then each of its running rows
    as ``demand cancel`` stops one (its Batch job terminated; the environment's cleanup of
    stopped executions removes what it left)."""
    status = run_set_status(environment, set_id, s3=s3, stepfunctions=stepfunctions, detailed=0)
    running_attempts = [attempt for attempt in status.attempts if attempt.state == "RUNNING"]
    running_rows = [row for row in status.rows if row.state == "RUNNING"]
    if not running_attempts and not running_rows:
        raise CloudError(f"run set {set_id!r} is {status.state}, not running: nothing to cancel")
    machine = _state_machine(environment)
    for attempt in running_attempts:
        try:
            stepfunctions.stop_execution(
                executionArn=_execution_arn(machine, attempt.name),
                error=CANCEL_ERROR,
                cause="cancelled with 'demand cancel'",
            )
        except ClientError as exc:  # it ended meanwhile
            if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                raise
    stopped, jobs = [], []
    for row in running_rows:
        try:
            job = cancel_execution(environment, row.execution_id, stepfunctions, batch)
        except CloudError:  # it ended meanwhile, or stopping the set stopped it first
            continue
        stopped.append(row.execution_id)
        if job is not None:
            jobs.append(job)
    return Cancelled(
        set_id=set_id,
        attempts=[attempt.name for attempt in running_attempts],
        rows=stopped,
        jobs=jobs,
    )
