"""``demand report ID``: one execution's page (HTML) and data (JSON), local or deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import boto3
import typer

from runtime.cli.cloud import (
    EndpointOption,
    ProfileOption,
    RegionOption,
    aws_settings,
    reported_cloud_errors,
)
from runtime.cli.errors import fail
from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import locate_environment
from runtime.local.root import default_root
from runtime.report.deployed import ReportClients, deployed_report
from runtime.report.html import duration, render_execution, render_run_set, size, usd
from runtime.report.local import report_of_local_run
from runtime.report.model import ExecutionReport, RunSetReport
from runtime.report.runset import aggregate


def _deployed(env: str, execution_ids: list[str]) -> list[ExecutionReport]:
    clients = AwsClients.create()
    environment = locate_environment(env, clients.cloudformation)
    ecs = boto3.session.Session(region_name=clients.batch.meta.region_name).client("ecs")
    reading = ReportClients(clients.stepfunctions, clients.batch, clients.lambda_, ecs)
    return [deployed_report(environment, each, reading) for each in execution_ids]


def set_summary_line(report: RunSetReport) -> str:
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(report.by_status.items()))
    return (
        f"{report.set_id}: {report.executions} executions ({counts}), "
        f"about {usd(report.total_usd)} (estimate)"
    )


def summary_line(report: ExecutionReport) -> str:
    return (
        f"{report.execution_id}: {report.status} in {duration(report.seconds)}, "
        f"{size(report.staged_in_bytes)} in, {size(report.staged_out_bytes)} out, "
        f"{report.cache_hits} cache hits, about {usd(report.cost.total_usd)} (estimate)"
    )


def report(
    execution_ids: Annotated[
        list[str],
        typer.Argument(
            metavar="ID...",
            help="The execution id (the spec's execution_id); several make one page of them "
            "all, as a run set's.",
        ),
    ],
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            "-e",
            help="A deployed environment's execution (its stack is demand-ENV); without it, "
            "the latest local run of ID.",
        ),
    ] = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    root: Annotated[
        Path | None,
        typer.Option(help="The local runs' directory [default: ~/.cache/demand]."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write the page here [default: ./ID.report.html, ./run-set.report.html].",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report's data as JSON on stdout.")
    ] = False,
) -> None:
    """Write a page of what execution ID did, where its time went and what it cost.

    Several IDs: one page of them all (counts, cost, the slowest and the failed, the
    distribution of durations).
    """
    if env is None:
        for flag, value in (
            ("--profile", profile),
            ("--region", region),
            ("--endpoint-url", endpoint_url),
        ):
            if value is not None:
                fail("request", [f"{flag} is for the AWS account of --env: a local run has none"])
    if env is not None and root is not None:
        fail("request", ["--root is for local runs: drop it with --env"])
    with aws_settings(profile, region, endpoint_url), reported_cloud_errors():
        reports = (
            _deployed(env, execution_ids)
            if env is not None
            else [
                report_of_local_run((root or default_root()).expanduser(), each)
                for each in execution_ids
            ]
        )
    if len(reports) == 1:
        (single,) = reports
        data: ExecutionReport | RunSetReport = single
        page, summary = render_execution(single), summary_line(single)
        default = Path(f"{single.execution_id}.report.html")
    else:
        data = aggregate(f"{len(reports)} executions", reports)
        page, summary = render_run_set(data), set_summary_line(data)
        default = Path("run-set.report.html")
    if json_output:
        typer.echo(data.model_dump_json(indent=2))
    if html is not None or not json_output:
        target = html or default
        try:
            target.write_text(page, encoding="utf-8")
        except OSError as exc:
            fail("request", [f"--html {target}: cannot write it: {exc.strerror or exc}"])
        typer.echo(summary, err=True)
        typer.echo(f"report: {target}", err=True)
