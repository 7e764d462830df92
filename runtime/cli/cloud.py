"""The ``demand`` commands that use a deployed environment: submit, status, logs, cancel, list;
and how ``demand plan --env`` finds the environment's own planning settings.

Plain functions with typer annotations; the CLI registers them on its app:

    app.command()(commands.submit)
    app.command("list")(commands.list_executions)

Every command that talks to AWS takes ``--profile``, ``--region`` and ``--endpoint-url``: for
the command's duration they are the standard variables (``AWS_PROFILE``, ``AWS_REGION``,
``AWS_ENDPOINT_URL``), so one resolution order (:mod:`runtime.aws_config`) serves boto3, the
sync engine and the CRT's credentials alike. Every failure is one ``error:`` line on stderr and
an exit code of docs/cli.md's table, never a traceback; ``--json`` output is documented there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from runtime import aws_config
from runtime.cli import run_sets as run_set_commands
from runtime.cli.errors import fail, reported_errors
from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import ExecutionNotFoundError, JobNotFoundError
from runtime.cloud.executions import (
    ExecutionStatus,
    cancel_execution,
    execution_status,
    submit_execution,
)
from runtime.cloud.executions import (
    list_executions as list_environment_executions,
)
from runtime.cloud.job_logs import JobLogStream, follow_log_lines, job_log_stream, log_lines
from runtime.cloud.notify import with_recipients
from runtime.cloud.retry import redrivable_until
from runtime.cloud.run_sets import is_run_set
from runtime.cloud.stack import DeployedEnvironment, deployment_variables, locate_environment
from runtime.deployment import DeploymentSettings
from runtime.errors import ConfigError
from runtime.plan.builder import build_plan
from runtime.plan.configuration import PlanningConfiguration
from runtime.reuse.dynamodb_records import DynamoDbRecords
from runtime.reuse.key import without_reuse
from runtime.reuse.lookup import ReuseCheck, check_reuse
from runtime.spec import DemandExecution, load_spec_file
from runtime.steps.reuse import DEPLOYED_RUNNER

# How often --wait and --follow ask AWS, by default: well within the APIs' rate limits.
POLL_SECONDS = 5.0
FINISHED_JOB_STATES = frozenset({"SUCCEEDED", "FAILED"})


class ExecutionState(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"


EnvOption = Annotated[
    str,
    typer.Option(
        "--env",
        "-e",
        envvar="DEMAND_ENV",
        metavar="NAME",
        help="The deployed environment (its stack is demand-NAME).",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="AWS profile to use [default: AWS_PROFILE, else 'default'].",
        show_default=False,
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        metavar="REGION",
        help="AWS region [default: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's].",
        show_default=False,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        help="Send AWS requests to this endpoint (moto, an S3-compatible server) "
        "[default: AWS_ENDPOINT_URL].",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout (keys: docs/cli.md).")
]
PollOption = Annotated[
    float,
    typer.Option("--poll", metavar="SECONDS", min=0, help="How often to ask AWS while waiting."),
]
ExecutionIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The execution id (the spec's execution_id).")
]


@contextmanager
def aws_settings(
    profile: str | None, region: str | None, endpoint_url: str | None
) -> Iterator[None]:
    """``--profile``, ``--region`` and ``--endpoint-url`` as the variables they stand for, for
    the duration of one command: a flag comes before any variable or profile setting."""
    if endpoint_url is not None and urlsplit(endpoint_url).scheme not in ("http", "https"):
        fail("request", [f"--endpoint-url: {endpoint_url!r} is not an http:// or https:// URL"])
    overrides: dict[str, str | None] = {}
    if profile is not None:
        overrides |= {"AWS_PROFILE": profile, "AWS_DEFAULT_PROFILE": None}
    if region is not None:
        overrides["AWS_REGION"] = region
    if endpoint_url is not None:
        overrides["AWS_ENDPOINT_URL"] = endpoint_url
        # Service-specific endpoints would come first: the flag is for every service.
        for name in os.environ:
            if name.startswith("AWS_ENDPOINT_URL_") or name == aws_config.IGNORE_ENDPOINTS_VARIABLE:
                overrides[name] = None
    saved = {name: os.environ.get(name) for name in overrides}
    try:
        for name, value in overrides.items():
            _set_variable(name, value)
        yield
    finally:
        for name, value in saved.items():
            _set_variable(name, value)


def _set_variable(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def reported_cloud_errors() -> AbstractContextManager[None]:
    """What the commands of runtime/cli/operations.py and report.py report through: the one
    reporting of runtime/cli/errors.py."""
    return reported_errors()


def _environment(env: str, clients: AwsClients) -> DeployedEnvironment:
    return locate_environment(env, clients.cloudformation)


def deployed_planning(env: str, clients: AwsClients | None = None) -> PlanningConfiguration:
    """How environment ``env`` plans an execution: the settings its Prepare function is given,
    read as Prepare reads them (:class:`DeploymentSettings`), so both plan alike."""
    return _deployed_settings(env, clients or AwsClients.create()).planning()


def _deployed_settings(env: str, clients: AwsClients) -> DeploymentSettings:
    environment = _environment(env, clients)
    variables = deployment_variables(environment, clients.lambda_)
    try:
        return DeploymentSettings.from_environment(variables)
    except ConfigError as exc:
        where = f"environment {env!r} (function {environment.prepare_function})"
        raise ConfigError([f"{where}: {problem}" for problem in exc.problems]) from None


def deployed_reuse_check(env: str, request: DemandExecution) -> ReuseCheck:
    """Whether environment ``env``'s Prepare would reuse a result for ``request``: the same
    check, against its table of records (docs/reuse.md)."""
    import boto3

    settings = _deployed_settings(env, AwsClients.create())
    if not settings.reuse_table:
        return ReuseCheck(key=None, refusal="the environment keeps no records (planning.reuse)")
    dynamodb = boto3.session.Session(region_name=aws_config.require_region()).client(
        "dynamodb", endpoint_url=aws_config.endpoint_url("dynamodb")
    )
    planning = settings.planning()
    return check_reuse(
        request,
        planning.volumes,
        planning.context,
        runner=DEPLOYED_RUNNER,
        store=DynamoDbRecords(settings.reuse_table, dynamodb),
    )


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def status_document(result: ExecutionStatus) -> dict[str, Any]:
    """``demand status --json``: the execution and, once it has ended, how (docs/cli.md)."""
    return {
        "execution_id": result.execution_id,
        "execution_arn": result.execution_arn,
        "state": result.state,
        "step": result.current_step,
        "started": _iso(result.started),
        "stopped": _iso(result.stopped),
        "batch_job_id": result.batch_job_id,
        "failed_step": result.failed_step,
        "error": result.error,
        "cause": result.cause,
        "failure": result.failure,
        "exit_code": result.exit_code,
        "redrive_count": result.redrive_count,
        "redrive_status": result.redrive_status,
        "redrivable_until": _iso(_redrivable_until(result)),
    }


def _redrivable_until(result: ExecutionStatus) -> datetime | None:
    return redrivable_until(result.state, result.stopped, result.redrive_status, result.error)


def _print_status(result: ExecutionStatus, json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps(status_document(result), indent=2))
        return
    rows = [
        ("execution", result.execution_id),
        ("state", result.state),
        ("step", result.current_step or "-"),
        ("started", _when(result.started)),
        ("stopped", _when(result.stopped)),
        ("batch job", result.batch_job_id or "-"),
    ]
    if result.redrive_count:
        rows.append(("redriven", f"{result.redrive_count} time(s) (demand retry)"))
    until = _redrivable_until(result)
    if until is not None and datetime.now(UTC) < until:
        rows.append(("retry", f"demand retry {result.execution_id} until {_when(until)}"))
    elif until is not None:
        rows.append(("retry", "too late: its files are cleaned up 15 minutes after it ends"))
    if result.failed_step:
        rows.append(("failed in", result.failed_step))
    if result.error or result.cause:
        rows.extend([("error", result.error or "-"), ("cause", result.cause or "-")])
    if result.failure is not None:
        rows.append(("failure", result.failure))
    if result.exit_code is not None and result.finished:
        rows.append(("exit code", str(result.exit_code)))
    for label, value in rows:
        typer.echo(f"{label:<10} {value}")


def _wait(
    environment: DeployedEnvironment, execution_id: str, clients: AwsClients, poll: float
) -> ExecutionStatus:
    """Ask until the execution has ended; each new step is one line on stderr."""
    shown: tuple[str, str | None] | None = None
    while True:
        result = execution_status(environment, execution_id, clients.stepfunctions)
        if result.finished:
            return result
        where = (result.state, result.current_step)
        if where != shown:
            shown = where
            typer.echo(
                f"waiting: {execution_id} {result.state}, step: {result.current_step or '-'}",
                err=True,
            )
        time.sleep(poll)


def _exit_with(result: ExecutionStatus) -> None:
    code = result.exit_code or 0
    if code:
        raise typer.Exit(code)


def submit(
    spec: Annotated[
        Path,
        typer.Argument(help="The request: a DemandExecution spec, JSON or YAML.", metavar="SPEC"),
    ],
    env: EnvOption = "dev",
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            metavar="ADDRESS",
            help="Tell ADDRESS when the execution ends (added to notify_list; repeatable).",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Wait until the execution ends; exit with its outcome (docs/cli.md)."
        ),
    ] = False,
    poll: PollOption = POLL_SECONDS,
    json_output: JsonOption = False,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    table: Annotated[
        Path | None,
        typer.Option(
            "--table",
            metavar="ROWS",
            help="A run set: SPEC is a template, each row of ROWS one execution (as for "
            "demand run --table); prints the set's id.",
        ),
    ] = None,
    set_id: Annotated[
        str | None,
        typer.Option(
            "--set-id",
            metavar="ID",
            help="With --table: the set's id [default: derived from the template and the table].",
            show_default=False,
        ),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option(
            "--max-concurrency",
            metavar="N",
            min=1,
            help="With --table: run at most N rows at once [default: the environment's "
            "run_sets.max_concurrency, also the most it allows].",
            show_default=False,
        ),
    ] = None,
    tolerated_failure_percentage: Annotated[
        float | None,
        typer.Option(
            "--tolerated-failure-percentage",
            metavar="P",
            min=0,
            max=100,
            help="With --table: once more than P percent of the rows have failed, the set "
            "fails and stops the rest [default: the environment's "
            "run_sets.tolerated_failure_percentage].",
            show_default=False,
        ),
    ] = None,
    no_reuse: Annotated[
        bool,
        typer.Option(
            "--no-reuse",
            help="Run even when the result is already known (docs/reuse.md): the request "
            "is sent with execution_options.reuse false. Not with --table (set it in the "
            "template).",
        ),
    ] = False,
) -> None:
    """Start SPEC in a deployed environment; print the execution's ARN (a run set's id).

    SPEC is planned first with the environment's own settings, as its Prepare step plans it: a
    request it would refuse (file:// locations, a bucket it may not use, more than its queues
    hold) is refused here, and its execution id stays unused. An id already used is refused.
    With --table, every row is planned so before the set starts.
    """
    set_flags = (set_id, max_concurrency, tolerated_failure_percentage)
    if table is None and any(flag is not None for flag in set_flags):
        fail(
            "request",
            [
                "--set-id, --max-concurrency and --tolerated-failure-percentage are for a run "
                "set: pass --table too"
            ],
            json_output=json_output,
        )
    if table is not None and no_reuse:
        fail(
            "request",
            ["--no-reuse is for one request: put execution_options.reuse: false in the template"],
            json_output=json_output,
        )
    if table is not None:
        _submit_set(
            spec,
            table,
            env=env,
            set_id=set_id,
            notify=notify or [],
            limits=(max_concurrency, tolerated_failure_percentage),
            wait=(wait, poll),
            json_output=json_output,
            aws=(profile, region, endpoint_url),
        )
        return
    with aws_settings(profile, region, endpoint_url), reported_errors(json_output=json_output):
        request = with_recipients(load_spec_file(spec), notify or [])
        if no_reuse:
            request = without_reuse(request)
        clients = AwsClients.create()
        environment = _environment(env, clients)
        planning = deployed_planning(env, clients)
        build_plan(request, planning.volumes, planning.context)
        spec_json = request.model_dump(mode="json")
        arn = submit_execution(environment, spec_json, clients.stepfunctions, clients.s3)
        if not wait:
            if json_output:
                document = {"execution_id": request.execution_id, "execution_arn": arn}
                typer.echo(json.dumps(document | {"environment": env}, indent=2))
            else:
                typer.echo(arn)
            return
        if not json_output:
            typer.echo(arn)
        result = _wait(environment, request.execution_id, clients, poll)
    if json_output:
        typer.echo(json.dumps(status_document(result) | {"environment": env}, indent=2))
    else:
        _print_status(result, json_output=False)
    _exit_with(result)


def _submit_set(
    template: Path,
    table: Path,
    *,
    env: str,
    set_id: str | None,
    notify: list[str],
    limits: tuple[int | None, float | None],
    wait: tuple[bool, float],
    json_output: bool,
    aws: tuple[str | None, str | None, str | None],
) -> None:
    with aws_settings(*aws), reported_errors(json_output=json_output):
        clients = AwsClients.create()
        environment = _environment(env, clients)
        chosen = run_set_commands.submit_set(
            template,
            table,
            env=env,
            environment=environment,
            clients=clients,
            planning=deployed_planning(env, clients),
            set_id=set_id,
            notify=notify,
            max_concurrency=limits[0],
            tolerated_failure_percentage=limits[1],
            json_output=json_output and not wait[0],
        )
        if not wait[0]:
            return
        result = run_set_commands.wait_for_set(environment, chosen, clients, wait[1])
    run_set_commands.print_set_status(result, json_output)
    _exit_with_code(run_set_commands.set_exit_code(result))


def _exit_with_code(code: int) -> None:
    if code:
        raise typer.Exit(code)


def _set_or_raise(
    environment: DeployedEnvironment,
    execution_id: str,
    clients: AwsClients,
    not_found: ExecutionNotFoundError,
) -> None:
    """Nothing when ``execution_id`` names a run set; else the execution is not found."""
    if not is_run_set(environment, execution_id, clients.stepfunctions):
        raise not_found


def status(
    execution_id: ExecutionIdArgument,
    env: EnvOption = "dev",
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Wait until the execution ends; exit with its outcome (docs/cli.md)."
        ),
    ] = False,
    poll: PollOption = POLL_SECONDS,
    json_output: JsonOption = False,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Show an execution's state, its current step, and on failure the error and its cause.

    A run set's id (demand submit --table): its rows' counts per state, and the rows that did
    not succeed with their errors.
    """
    with aws_settings(profile, region, endpoint_url), reported_errors(json_output=json_output):
        clients = AwsClients.create()
        environment = _environment(env, clients)
        try:
            if wait:
                result = _wait(environment, execution_id, clients, poll)
            else:
                result = execution_status(environment, execution_id, clients.stepfunctions)
        except ExecutionNotFoundError as not_found:
            _set_or_raise(environment, execution_id, clients, not_found)
            found = (
                run_set_commands.wait_for_set(environment, execution_id, clients, poll)
                if wait
                else run_set_commands.set_status(environment, execution_id, clients)
            )
            run_set_commands.print_set_status(found, json_output)
            if wait:
                _exit_with_code(run_set_commands.set_exit_code(found))
            return
    _print_status(result, json_output)
    if wait:
        _exit_with(result)


def logs(
    execution_id: ExecutionIdArgument,
    env: EnvOption = "dev",
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Print new lines as they arrive, until the job has ended."
        ),
    ] = False,
    poll: PollOption = POLL_SECONDS,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="One JSON object per line: timestamp and message."),
    ] = False,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Print the output of an execution's Batch job (its CloudWatch Logs stream)."""
    with aws_settings(profile, region, endpoint_url), reported_errors(json_output=json_output):
        clients = AwsClients.create()
        environment = _environment(env, clients)
        stream = _log_stream(environment, execution_id, clients, follow=follow, poll=poll)
        if stream is None:
            return
        if follow:

            def job_ended() -> bool:
                job = job_log_stream(environment, stream.job_id, clients.batch)
                return job.job_status in FINISHED_JOB_STATES

            lines = follow_log_lines(
                stream, clients.logs, job_ended=job_ended, wait=lambda: time.sleep(poll)
            )
        else:
            lines = log_lines(stream, clients.logs)
        for line in lines:
            if json_output:
                moment = datetime.fromtimestamp(line.timestamp_ms / 1000, UTC)
                typer.echo(json.dumps({"timestamp": moment.isoformat(), "message": line.message}))
            else:
                typer.echo(line.message)
            sys.stdout.flush()


def _log_stream(
    environment: DeployedEnvironment,
    execution_id: str,
    clients: AwsClients,
    *,
    follow: bool,
    poll: float,
) -> JobLogStream | None:
    """The job's log stream; with ``follow``, waited for until the job has one (None: the
    execution ended without one)."""
    while True:
        result = execution_status(environment, execution_id, clients.stepfunctions)
        if result.batch_job_id is None:
            if not follow:
                raise JobNotFoundError(
                    f"execution {execution_id!r} has not submitted its Batch job "
                    f"({result.state}, step: {result.current_step or '-'})"
                )
            if result.finished:
                typer.echo(f"execution {execution_id!r} ended without a Batch job", err=True)
                return None
        else:
            try:
                return job_log_stream(environment, result.batch_job_id, clients.batch)
            except JobNotFoundError:
                if not follow or result.finished:
                    raise
        time.sleep(poll)


def cancel(
    execution_id: ExecutionIdArgument,
    env: EnvOption = "dev",
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Stop a running execution and terminate its Batch job.

    A run set's id: stop the set (no row starts after it) and every row of it that runs.
    """
    with aws_settings(profile, region, endpoint_url), reported_errors():
        clients = AwsClients.create()
        environment = _environment(env, clients)
        try:
            job_id = cancel_execution(
                environment, execution_id, clients.stepfunctions, clients.batch
            )
        except ExecutionNotFoundError as not_found:
            _set_or_raise(environment, execution_id, clients, not_found)
            run_set_commands.cancel_set(environment, execution_id, clients)
            return
    typer.echo(f"stopped execution {execution_id}")
    if job_id is not None:
        typer.echo(f"terminated Batch job {job_id}")


def list_executions(
    env: EnvOption = "dev",
    state: Annotated[
        ExecutionState | None,
        typer.Option("--state", case_sensitive=False, help="Only executions in this state."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 20,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="A JSON array of the executions (keys: docs/cli.md)."),
    ] = False,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """List an environment's executions, newest first."""
    with aws_settings(profile, region, endpoint_url), reported_errors(json_output=json_output):
        clients = AwsClients.create()
        environment = _environment(env, clients)
        summaries = list_environment_executions(
            environment,
            clients.stepfunctions,
            state=state.value if state is not None else None,
            limit=limit,
        )
    if json_output:
        documents = [
            {
                "execution_id": summary.execution_id,
                "execution_arn": environment.execution_arn(summary.execution_id),
                "state": summary.state,
                "started": _iso(summary.started),
                "stopped": _iso(summary.stopped),
            }
            for summary in summaries
        ]
        typer.echo(json.dumps(documents, indent=2))
        return
    if not summaries:
        typer.echo("no executions", err=True)
        return
    width = max(len(summary.execution_id) for summary in summaries)
    for summary in summaries:
        typer.echo(f"{summary.execution_id:<{width}}  {summary.state:<9}  {_when(summary.started)}")
