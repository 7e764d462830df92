"""The ``demand`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from runtime.cli import cloud as cloud_commands
from runtime.cli import operations
from runtime.cli.errors import EXIT_INVALID, reported_errors
from runtime.cli.plan_summary import render_plan
from runtime.cli.progress import staging_progress
from runtime.cli.report import report as report_command
from runtime.cli.run_report import render_report
from runtime.cli.sync import SyncCommand, sync_command
from runtime.local.jobs import RunnerName, launcher_named
from runtime.local.root import LocalRoot, default_root
from runtime.local.runner import LocalRun
from runtime.plan.builder import build_plan
from runtime.plan.configuration import load_configuration
from runtime.spec import load_spec_file, spec_json_schema

app = typer.Typer(
    name="demand",
    help="Plan and run demand executions: a container command with its data staged in and out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

SpecArgument = Annotated[
    Path, typer.Argument(help="The request: a DemandExecution spec, JSON or YAML.", metavar="SPEC")
]


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Volumes and context settings, JSON or YAML."),
]


@app.command()
def plan(
    spec: SpecArgument,
    json_output: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    file_system: Annotated[
        str | None, typer.Option("--file-system", help="EFS file system id to plan for.")
    ] = None,
    config: ConfigOption = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            "-e",
            help="Plan as deployed environment ENV does (its stack is demand-ENV): its queues "
            "and their limits, buckets and names. No --config or --file-system with it.",
        ),
    ] = None,
    region: cloud_commands.RegionOption = None,
) -> None:
    """Validate SPEC and print the ExecutionPlan it becomes; nothing is run."""
    if env is not None and (config is not None or file_system is not None):
        _refuse("--env plans with the environment's own settings: drop --config and --file-system")
    if env is None and region is not None:
        _refuse("--region is where the environment of --env is deployed: pass --env too")
    with cloud_commands.reported_cloud_errors():
        request = load_spec_file(spec)
        configuration = (
            cloud_commands.deployed_planning(env, region)
            if env is not None
            else load_configuration(config, file_system_id=file_system)
        )
        execution_plan = build_plan(request, configuration.volumes, configuration.context)
    if json_output:
        typer.echo(execution_plan.model_dump_json(indent=2))
    else:
        render_plan(execution_plan, Console())


def _refuse(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_INVALID)


@app.command()
def run(
    spec: SpecArgument,
    root: Annotated[
        Path | None,
        typer.Option(help="Directory standing in for EFS [default: ~/.cache/demand]."),
    ] = None,
    runner: Annotated[
        RunnerName, typer.Option(help="Run the job as a local process or in a Docker container.")
    ] = "process",
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the working dir afterwards, for debugging.")
    ] = False,
    config: ConfigOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the final report as JSON on stdout.")
    ] = False,
) -> None:
    """Run SPEC here: prepare, stage in, run the job, stage out, clean up."""
    console = Console(stderr=True)
    with reported_errors():
        execution = LocalRun(
            spec=load_spec_file(spec),
            root=LocalRoot((root or default_root()).expanduser().resolve()),
            launcher=launcher_named(runner),
            configuration=load_configuration(config),
            keep=keep,
            progress=staging_progress(console),
        )
        report = execution.execute()
    if json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        render_report(report, console)
    raise typer.Exit(report.exit_code)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a spec, for editors to validate against."""
    typer.echo(json.dumps(spec_json_schema(), indent=2))


# Moving data on its own: the engine every staging step uses (runtime/sync).
app.command("sync", cls=SyncCommand)(sync_command)

# Commands that use a deployed environment (runtime/cloud).
app.command()(cloud_commands.submit)
app.command()(cloud_commands.status)
app.command()(cloud_commands.logs)
app.command()(cloud_commands.cancel)
app.command("list")(cloud_commands.list_executions)
app.command()(operations.retry)
app.add_typer(operations.cache_app)

# What an execution did, where its time went and what it cost (runtime/report).
app.command("report")(report_command)


def main() -> None:
    app(prog_name="demand")


if __name__ == "__main__":  # pragma: no cover
    main()
