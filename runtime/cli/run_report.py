"""The summary ``demand run`` prints when it ends."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runtime.local.runner import RunReport
from runtime.sync.report import count_of, human_size


def render_report(report: RunReport, console: Console) -> None:
    succeeded = report.status == "SUCCEEDED"
    style = "bold green" if succeeded else "bold red"
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("status", f"[{style}]{report.status}[/]")
    table.add_row("exit code", str(report.exit_code))
    if report.failed_step:
        table.add_row("failed step", f"{report.failed_step}: {report.error}")
    table.add_row(
        "steps", ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.seconds.items())
    )
    for name, stage in (("staged in", report.stage_in), ("staged out", report.stage_out)):
        table.add_row(
            name,
            f"{human_size(stage.bytes)} in {count_of(stage.transferred, 'file')}, "
            f"{stage.skipped} already current",
        )
    table.add_row("cache hits", str(report.stage_in.cache_hits))
    if report.sandbox:
        table.add_row("sandbox", escape(report.sandbox))
    if report.log_file:
        table.add_row("log", report.log_file)
    if report.kept:
        table.add_row("working dir", f"{report.working_dir} (kept)")
    console.print(table)
