"""The ``demand`` commands that use a deployed environment: submit, status, logs, cancel, list;
and how ``demand plan --env`` finds the environment's own planning settings.

Plain functions with typer annotations; the CLI registers them on its app:

    app.command()(commands.submit)
    app.command("list")(commands.list_executions)

Every failure is one ``error:`` line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from runtime.cli.errors import EXIT_FAILED, reported_errors
from runtime.cloud.clients import AwsClients
from runtime.cloud.executions import (
    cancel_execution,
    execution_status,
    submit_execution,
)
from runtime.cloud.executions import (
    list_executions as list_environment_executions,
)
from runtime.cloud.job_logs import job_log_stream, log_lines
from runtime.cloud.notify import with_recipients
from runtime.cloud.stack import DeployedEnvironment, deployment_variables, locate_environment
from runtime.deployment import DeploymentSettings
from runtime.errors import ConfigError, translate_client_error
from runtime.plan.configuration import PlanningConfiguration
from runtime.spec import load_spec_file


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
        help="The deployed environment (its stack is demand-ENV).",
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option("--region", help="AWS region of the environment (default: AWS_REGION)."),
]
ExecutionIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The execution id (the spec's execution_id).")
]


@contextmanager
def reported_cloud_errors() -> Iterator[None]:
    """The project's errors as every command reports them, and AWS's as one line too."""
    with reported_errors():
        try:
            yield
        except NoCredentialsError:
            _fail("no AWS credentials found: configure a profile (AWS_PROFILE) or credentials")
        except NoRegionError:
            _fail("no AWS region: pass --region or set AWS_REGION")
        except ClientError as exc:
            _fail(str(translate_client_error(exc, f"AWS refused {exc.operation_name}")))
        except BotoCoreError as exc:
            _fail(f"AWS request failed: {exc}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_FAILED)


def _environment(env: str, clients: AwsClients) -> DeployedEnvironment:
    return locate_environment(env, clients.cloudformation)


def deployed_planning(env: str, region: str | None) -> PlanningConfiguration:
    """How environment ``env`` plans an execution: the settings its Prepare function is given,
    read as Prepare reads them (:class:`DeploymentSettings`), so both plan alike."""
    clients = AwsClients.create(region)
    environment = _environment(env, clients)
    variables = deployment_variables(environment, clients.lambda_)
    try:
        settings = DeploymentSettings.from_environment(variables)
    except ConfigError as exc:
        where = f"environment {env!r} (function {environment.prepare_function})"
        raise ConfigError([f"{where}: {problem}" for problem in exc.problems]) from None
    return settings.planning()


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def submit(
    spec: Annotated[
        Path,
        typer.Argument(help="The request: a DemandExecution spec, JSON or YAML.", metavar="SPEC"),
    ],
    env: EnvOption = "dev",
    region: RegionOption = None,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            metavar="ADDRESS",
            help="Tell ADDRESS when the execution ends (added to notify_list; repeatable).",
        ),
    ] = None,
) -> None:
    """Start SPEC in a deployed environment; print the execution's ARN.

    The execution is named after the spec's execution_id: an id already used is refused.
    """
    with reported_cloud_errors():
        request = with_recipients(load_spec_file(spec), notify or [])
        clients = AwsClients.create(region)
        arn = submit_execution(
            _environment(env, clients), request.model_dump(mode="json"), clients.stepfunctions
        )
    typer.echo(arn)


def status(
    execution_id: ExecutionIdArgument, env: EnvOption = "dev", region: RegionOption = None
) -> None:
    """Show an execution's state, its current step, and on failure the error and its cause."""
    with reported_cloud_errors():
        clients = AwsClients.create(region)
        result = execution_status(_environment(env, clients), execution_id, clients.stepfunctions)
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
    if result.failed_step:
        rows.append(("failed in", result.failed_step))
    if result.error or result.cause:
        rows.extend([("error", result.error or "-"), ("cause", result.cause or "-")])
    for label, value in rows:
        typer.echo(f"{label:<10} {value}")


def logs(
    execution_id: ExecutionIdArgument, env: EnvOption = "dev", region: RegionOption = None
) -> None:
    """Print the output of an execution's Batch job (its CloudWatch Logs stream)."""
    with reported_cloud_errors():
        clients = AwsClients.create(region)
        environment = _environment(env, clients)
        result = execution_status(environment, execution_id, clients.stepfunctions)
        if result.batch_job_id is None:
            _fail(
                f"execution {execution_id!r} has not submitted its Batch job "
                f"({result.state}, step: {result.current_step or '-'})"
            )
        stream = job_log_stream(environment, result.batch_job_id, clients.batch)
        for line in log_lines(stream, clients.logs):
            typer.echo(line.message)


def cancel(
    execution_id: ExecutionIdArgument, env: EnvOption = "dev", region: RegionOption = None
) -> None:
    """Stop a running execution and terminate its Batch job."""
    with reported_cloud_errors():
        clients = AwsClients.create(region)
        job_id = cancel_execution(
            _environment(env, clients), execution_id, clients.stepfunctions, clients.batch
        )
    typer.echo(f"stopped execution {execution_id}")
    if job_id is not None:
        typer.echo(f"terminated Batch job {job_id}")


def list_executions(
    env: EnvOption = "dev",
    region: RegionOption = None,
    state: Annotated[
        ExecutionState | None, typer.Option("--state", help="Only executions in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 20,
) -> None:
    """List an environment's executions, newest first."""
    with reported_cloud_errors():
        clients = AwsClients.create(region)
        summaries = list_environment_executions(
            _environment(env, clients),
            clients.stepfunctions,
            state=state.value if state is not None else None,
            limit=limit,
        )
    if not summaries:
        typer.echo("no executions", err=True)
        return
    width = max(len(summary.execution_id) for summary in summaries)
    for summary in summaries:
        typer.echo(f"{summary.execution_id:<{width}}  {summary.state:<9}  {_when(summary.started)}")
