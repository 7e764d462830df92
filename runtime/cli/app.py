"""The ``demand`` command."""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

# typer carries its own click (typer._click): its usage errors and contexts are these.
from typer._click import Context
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from runtime.cli import cloud as cloud_commands
from runtime.cli import operations
from runtime.cli.errors import fail, reported_errors
from runtime.cli.plan_summary import render_plan, render_reuse
from runtime.cli.progress import staging_progress
from runtime.cli.report import report as report_command
from runtime.cli.run_report import render_report
from runtime.cli.set_report import render_set_report, set_progress
from runtime.cli.sync import SyncCommand, sync_command
from runtime.cli.terminal import output_console
from runtime.exit_codes import EXIT_REQUEST
from runtime.local.jobs import RunnerName, launcher_named
from runtime.local.root import LocalRoot, default_root
from runtime.local.runner import LocalRun
from runtime.local.set_runner import MAX_JOBS, LocalRunSet
from runtime.plan.builder import build_plan
from runtime.plan.configuration import load_configuration
from runtime.reuse.key import without_reuse
from runtime.runsets.expansion import check_rows, expand_run_set
from runtime.spec import load_spec_file, spec_json_schema
from runtime.sync.settings import check_tuning

# What an EFS file system id looks like (fs- and 8 or 17 hex digits; a little room either way).
FILE_SYSTEM_ID = re.compile(r"fs-[0-9a-f]{8,40}")


class DemandGroup(TyperGroup):
    """Usage errors (an unknown flag, a missing argument) exit 125 like every refused request:
    click's 2 would be taken for a job's own exit code (docs/cli.md)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            exc.exit_code = EXIT_REQUEST
            raise

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.exit_code = EXIT_REQUEST
            raise


def _version(value: bool) -> None:
    if value:
        try:
            number = version("demand-executions")
        except PackageNotFoundError:  # pragma: no cover - run from a tree that is not installed
            number = "unknown"
        typer.echo(f"demand {number}")
        raise typer.Exit()


app = typer.Typer(
    name="demand",
    cls=DemandGroup,
    help="Plan and run demand executions: a container command with its data staged in and out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help as click writes it: plain text that shows every default, no metavar on flags, and
    # reads the same through a pipe (rich's panels hide "[default: ...]" as markup).
    rich_markup_mode=None,
)


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Plan and run demand executions: a container command with its data staged in and out.

    Exit codes (docs/cli.md): 0 success; the job's own code when the job failed; 125 the request
    was refused or could not be carried out; 126 staging failed; 127 the job could not start.
    """


SpecArgument = Annotated[
    Path, typer.Argument(help="The request: a DemandExecution spec, JSON or YAML.", metavar="SPEC")
]


TableOption = Annotated[
    Path | None,
    typer.Option(
        "--table",
        metavar="ROWS",
        help="A run set: SPEC is a template, each row of ROWS (CSV or TSV with a header of "
        "parameter names and optionally execution_id, or a YAML / JSON list) one execution.",
    ),
]
SetIdOption = Annotated[
    str | None,
    typer.Option(
        "--set-id",
        metavar="ID",
        help="With --table: the run set's id [default: derived from the template and the "
        "table]; rows are ID-1, ID-2, ... unless they name their own execution_id.",
        show_default=False,
    ),
]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="Volumes and context settings, JSON or YAML."),
]
NoReuseOption = Annotated[
    bool,
    typer.Option(
        "--no-reuse",
        help="Run even when the result is already known (docs/reuse.md): no earlier result is "
        "reused, and this one is not recorded.",
    ),
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Directory standing in for EFS [default: ~/.cache/demand].",
        show_default=False,
    ),
]


@app.command()
def plan(
    spec: SpecArgument,
    json_output: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    file_system: Annotated[
        str | None,
        typer.Option("--file-system", metavar="ID", help="EFS file system id to plan for."),
    ] = None,
    config: ConfigOption = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            "-e",
            metavar="NAME",
            help="Plan as deployed environment NAME does (its stack is demand-NAME): its "
            "queues and their limits, buckets and names. No --config or --file-system with it.",
        ),
    ] = None,
    profile: cloud_commands.ProfileOption = None,
    region: cloud_commands.RegionOption = None,
    endpoint_url: cloud_commands.EndpointOption = None,
    root: RootOption = None,
    runner: Annotated[
        RunnerName,
        typer.Option(help="Without --env: check for a reusable result as demand run would."),
    ] = "process",
) -> None:
    """Validate SPEC and print the ExecutionPlan it becomes; nothing is run.

    Without --json, also whether its result is already known (docs/reuse.md): its reuse key
    and the execution a run would reuse, as demand run --root DIR --runner R would find it.
    """
    if env is not None and (config is not None or file_system is not None):
        fail(
            "request",
            ["--env plans with the environment's own settings: drop --config and --file-system"],
        )
    if env is None and (profile or region or endpoint_url) is not None:
        problem = "--profile, --region and --endpoint-url find --env's environment: pass --env too"
        fail("request", [problem])
    if file_system is not None and not FILE_SYSTEM_ID.fullmatch(file_system):
        fail(
            "request",
            [f"--file-system: {file_system!r} is not an EFS file system id (fs-0123456789abcdef0)"],
        )
    with (
        cloud_commands.aws_settings(profile, region, endpoint_url),
        reported_errors(json_output=json_output),
    ):
        request = load_spec_file(spec)
        configuration = (
            cloud_commands.deployed_planning(env)
            if env is not None
            else load_configuration(config, file_system_id=file_system)
        )
        execution_plan = build_plan(request, configuration.volumes, configuration.context)
    if json_output:
        typer.echo(execution_plan.model_dump_json(indent=2))
        return
    console = output_console()
    render_plan(execution_plan, console)
    with (
        cloud_commands.aws_settings(profile, region, endpoint_url),
        reported_errors(json_output=False),
    ):
        if env is not None:
            check = cloud_commands.deployed_reuse_check(env, request)
        else:
            check = LocalRun(
                spec=request,
                root=LocalRoot((root or default_root()).expanduser().resolve()),
                launcher=launcher_named(runner),
                configuration=configuration,
            ).reuse_check()
    render_reuse(check, console)


@app.command()
def run(
    spec: SpecArgument,
    root: RootOption = None,
    runner: Annotated[
        RunnerName,
        typer.Option(help="Run the job as a local process or in a Docker container."),
    ] = "process",
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the working dir afterwards, for debugging.")
    ] = False,
    config: ConfigOption = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the final report as JSON on stdout; the job's output goes to stderr.",
        ),
    ] = False,
    profile: cloud_commands.ProfileOption = None,
    region: cloud_commands.RegionOption = None,
    endpoint_url: cloud_commands.EndpointOption = None,
    table: TableOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=MAX_JOBS,
            metavar="N",
            help="With --table: run N rows at a time [default: the number of CPUs].",
            show_default=False,
        ),
    ] = None,
    set_id: SetIdOption = None,
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="With --table: run every row, also those that succeeded in an earlier run "
            "of the same set.",
        ),
    ] = False,
    no_reuse: NoReuseOption = False,
) -> None:
    """Run SPEC here: prepare, stage in, run the job, stage out, clean up.

    With --table ROWS, SPEC is a template and each row of ROWS one execution: every row is
    validated first, then they run --jobs at a time (docs/cli.md, Run sets).

    Exits with the job's own code when the job fails; 125, 126 or 127 when the request was
    refused, staging failed, or the job could not start; a run set 123 when a row failed
    (docs/cli.md).
    """
    console = output_console(stderr=True)
    if table is None and (jobs is not None or set_id is not None or again):
        fail("request", ["--jobs, --set-id and --again are for a run set: pass --table too"])
    with reported_errors(json_output=json_output):
        # A DEMAND_SYNC_* setting the engine or the CRT would refuse fails the request before
        # anything starts (125), not the stage-in after prepare (126).
        check_tuning()
    if table is not None:
        _run_set(
            spec,
            table,
            RunSetOptions(
                root=root,
                runner=runner,
                keep=keep,
                config=config,
                jobs=jobs or os.cpu_count() or 1,
                set_id=set_id,
                again=again,
                no_reuse=no_reuse,
            ),
            json_output=json_output,
            aws=(profile, region, endpoint_url),
        )
    with (
        cloud_commands.aws_settings(profile, region, endpoint_url),
        reported_errors(json_output=json_output),
    ):
        request = load_spec_file(spec)
        execution = LocalRun(
            spec=without_reuse(request) if no_reuse else request,
            root=LocalRoot((root or default_root()).expanduser().resolve()),
            launcher=launcher_named(runner),
            configuration=load_configuration(config),
            keep=keep,
            progress=staging_progress(console),
        )
        if json_output:
            # stdout holds the report alone: the job's output goes to stderr (and its log).
            with redirect_stdout(sys.stderr):
                report = execution.execute()
        else:
            report = execution.execute()
    if json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        render_report(report, console)
    raise typer.Exit(report.exit_code)


@dataclass(frozen=True)
class RunSetOptions:
    root: Path | None
    runner: RunnerName
    keep: bool
    config: Path | None
    jobs: int
    set_id: str | None
    again: bool
    no_reuse: bool = False


def _run_set(
    template: Path,
    table: Path,
    options: RunSetOptions,
    *,
    json_output: bool,
    aws: tuple[str | None, str | None, str | None],
) -> NoReturn:
    """``demand run TEMPLATE --table ROWS``: every row validated and planned, then run."""
    console = output_console(stderr=True)
    with cloud_commands.aws_settings(*aws), reported_errors(json_output=json_output):
        configuration = load_configuration(options.config)
        run_set = expand_run_set(template, table, set_id=options.set_id)
        if options.no_reuse:
            rows = [replace(row, request=without_reuse(row.request)) for row in run_set.rows]
            run_set = replace(run_set, rows=rows)
        root = LocalRoot((options.root or default_root()).expanduser().resolve())
        launcher = launcher_named(options.runner)
        volumes = root.volumes(in_container=launcher.in_container, base=configuration.volumes)
        check_rows(run_set, lambda request: build_plan(request, volumes, configuration.context))
        sandbox = launcher.check()
        report = LocalRunSet(
            run_set=run_set,
            root=root,
            runner=options.runner,
            configuration=configuration,
            jobs=options.jobs,
            keep=options.keep,
            again=options.again,
            sandbox=sandbox,
            progress=set_progress(console),
        ).execute()
    if json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        render_set_report(report, console)
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
