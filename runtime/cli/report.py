"""``demand report ID``: one execution's page (HTML) and data (JSON), local or deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
from runtime.local.record import run_record_path
from runtime.local.root import LocalRoot, default_root
from runtime.local.set_record import (
    RUNLESS_STATES,
    SetRecord,
    SetRecordError,
    read_set_record,
)
from runtime.report.deployed import ReportClients, deployed_report
from runtime.report.html import duration, render_execution, render_run_set, size, usd
from runtime.report.local import report_of_local_run
from runtime.report.model import ExecutionReport, RunSetReport
from runtime.report.runset import aggregate


def _deployed(env: str, execution_ids: list[str]) -> list[ExecutionReport]:
    import boto3  # here: only --env needs it, and it is slow to import

    clients = AwsClients.create()
    environment = locate_environment(env, clients.cloudformation)
    ecs = boto3.session.Session(region_name=clients.batch.meta.region_name).client("ecs")
    reading = ReportClients(clients.stepfunctions, clients.batch, clients.lambda_, ecs)
    return [deployed_report(environment, each, reading) for each in execution_ids]


def _set_record(local: LocalRoot, execution_id: str) -> SetRecord | None:
    """The run set ``execution_id`` names, when it names no run but a set."""
    if run_record_path(local.runs, execution_id).exists():
        return None
    try:
        return read_set_record(local.sets, execution_id)
    except SetRecordError:  # not a set id: reported as the run it is not
        return None


def _local(root: Path, ids: list[str]) -> list[ExecutionReport]:
    """The reports of the local runs ``ids`` names: an id that names no run but a run set
    (``demand run --table``'s set id) stands for the rows of the set that ran."""
    reports = []
    for each in ids:
        record = _set_record(LocalRoot(root), each)
        if record is None:
            reports.append(report_of_local_run(root, each))
            continue
        ran = [row.execution_id for row in record.rows if row.state not in RUNLESS_STATES]
        if not ran:
            raise SetRecordError(f"run set {each!r} has no row that ran yet")
        reports += [report_of_local_run(root, execution_id) for execution_id in ran]
    return reports


def _is_local_set(root: Path | None, ids: list[str]) -> bool:
    local = LocalRoot((root or default_root()).expanduser())
    return len(ids) == 1 and _set_record(local, ids[0]) is not None


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
            else _local((root or default_root()).expanduser(), execution_ids)
        )
    set_name = execution_ids[0] if env is None and _is_local_set(root, execution_ids) else None
    if len(reports) == 1 and set_name is None:
        (single,) = reports
        data: ExecutionReport | RunSetReport = single
        page, summary = render_execution(single), summary_line(single)
        default = Path(f"{single.execution_id}.report.html")
    else:
        data = aggregate(set_name or f"{len(reports)} executions", reports)
        page, summary = render_run_set(data), set_summary_line(data)
        default = Path(f"{set_name or 'run-set'}.report.html")
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
