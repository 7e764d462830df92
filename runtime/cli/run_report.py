"""The summary ``demand run`` prints when it ends.

Values are :class:`~rich.text.Text` (an error holding ``[/x]`` is shown as written); through a
pipe every line is whole and unpadded (:func:`runtime.cli.terminal.emit`).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runtime.cli.terminal import emit
from runtime.local.runner import RunReport
from runtime.sync.report import count_of, human_size


def render_report(report: RunReport, console: Console) -> None:
    succeeded = report.status == "SUCCEEDED"
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column()
    table.add_column(overflow="fold")
    table.add_row("status", Text(report.status, style="bold green" if succeeded else "bold red"))
    table.add_row("exit code", Text(str(report.exit_code)))
    if report.reused_from:
        table.add_row("reused from", Text(report.reused_from))
    if report.failure:
        table.add_row("failure", Text(report.failure))
    if report.failed_step:
        table.add_row("failed step", Text(f"{report.failed_step}: {report.error}"))
    elif report.error:
        table.add_row("error", Text(report.error))
    table.add_row(
        "steps",
        Text(", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.seconds.items())),
    )
    for name, stage in (("staged in", report.stage_in), ("staged out", report.stage_out)):
        table.add_row(
            name,
            Text(
                f"{human_size(stage.bytes)} in {count_of(stage.transferred, 'file')}, "
                f"{stage.skipped} already current"
            ),
        )
    table.add_row("cache hits", Text(str(report.stage_in.cache_hits)))
    if report.reuse_key:  # a reusable request: whether it was (or now is) recorded
        table.add_row("reuse", Text(report.reuse or ""))
    if report.sandbox:
        table.add_row("sandbox", Text(report.sandbox))
    if report.log_file:
        table.add_row("log", Text(report.log_file))
    if report.kept:
        table.add_row("working dir", Text(f"{report.working_dir} (kept)"))
    elif not succeeded and report.failed_step in ("run", "stage_out"):
        # what the job left behind explains most such failures, and it is gone now
        table.add_row(
            "hint", Text("the working dir was removed: run again with --keep to look in it")
        )
    emit(console, table)
