"""What ``demand run TEMPLATE --table ROWS`` shows: one progress bar for the set while it runs
(on a terminal), a line per failed row as it fails, and a table of every row at the end."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from runtime.cli.terminal import emit
from runtime.local.set_record import RowOutcome
from runtime.local.set_runner import SetProgress, SetReport

# Longer errors are cut in the table (the --json document and each row's record have them
# whole); a pipe gets them whole.
TABLE_ERROR_CHARACTERS = 120
_STYLES = {
    "SUCCEEDED": "green",
    "SKIPPED": "green",
    "FAILED": "bold red",
    "NOT_STARTED": "yellow",
    "RUNNING": "yellow",
}


def failed_line(outcome: RowOutcome) -> str:
    where = f"{outcome.failed_step}: " if outcome.failed_step else ""
    return (
        f"row {outcome.row} ({outcome.execution_id}): {outcome.state}, exit code "
        f"{outcome.exit_code}: {where}{outcome.error or '-'}"
    )


class SetLines(SetProgress):
    """Without a terminal: a line per failed row, and the workers' notes."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()

    def row_done(self, outcome: RowOutcome) -> None:
        if outcome.state != "SUCCEEDED":
            self.note(failed_line(outcome))

    def note(self, text: str) -> None:
        with self._lock:
            self._console.print(Text(text), soft_wrap=True)


class SetBar(SetLines):
    """On a terminal: rows done of all, how many run now and how many failed, the time spent."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self._progress = Progress(
            TextColumn("[bold]rows"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[states]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("rows", total=0, states="")
        self._running = 0
        self._failed = 0

    def start(self, total: int, skipped: int) -> None:
        self._progress.update(self._task, total=total, completed=skipped)
        self._progress.start()
        self._update()

    def row_started(self, outcome: RowOutcome) -> None:
        self._running += 1
        self._update()

    def row_done(self, outcome: RowOutcome) -> None:
        self._running = max(0, self._running - 1)
        self._failed += outcome.state != "SUCCEEDED"
        self._progress.advance(self._task)
        self._update()
        super().row_done(outcome)

    def _update(self) -> None:
        states = f"{self._running} running" + (f", {self._failed} failed" if self._failed else "")
        self._progress.update(self._task, states=states)

    def close(self) -> None:
        self._progress.stop()


def set_progress(console: Console) -> SetProgress:
    return SetBar(console) if console.is_terminal else SetLines(console)


def render_set_report(report: SetReport, console: Console) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (
        ("row", "right"),
        ("execution id", "left"),
        ("state", "left"),
        ("exit", "right"),
        ("seconds", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for outcome in report.rows:
        note = ""
        if outcome.state == "SKIPPED":
            note = "succeeded in an earlier run of this set (--again runs it)"
        elif outcome.state in ("FAILED", "NOT_STARTED") and (outcome.error or outcome.failure):
            step = f"{outcome.failed_step}: " if outcome.failed_step else ""
            note = f"{step}{outcome.error or outcome.failure}"
            if console.is_terminal and len(note) > TABLE_ERROR_CHARACTERS:
                note = note[: TABLE_ERROR_CHARACTERS - 1] + "…"
        table.add_row(
            Text(str(outcome.row)),
            Text(outcome.execution_id),
            Text(outcome.state, style=_STYLES.get(outcome.state, "")),
            Text("-" if outcome.exit_code is None else str(outcome.exit_code)),
            Text("-" if outcome.seconds is None else f"{outcome.seconds:.1f}"),
            Text(note),
        )
    emit(console, table)
    counts = ", ".join(
        f"{n} {state.lower().replace('_', ' ')}" for state, n in sorted(report.counts.items())
    )
    summary = Text(
        f"run set {report.set_id}: {report.status} ({counts}) in {report.seconds:.1f}s, "
        f"{report.jobs} at a time; exit code {report.exit_code}"
    )
    emit(console, summary)
    if report.record_file:
        emit(console, Text(f"record: {report.record_file} (demand report {report.set_id})"))
