"""What the plan and the run summary show, on a terminal (rich's recording console at fixed
widths) and through a pipe; and the help texts (issue 14, items 4, 5 and 6)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from runtime.cli.app import app
from runtime.cli.plan_summary import render_plan
from runtime.cli.run_report import render_report
from runtime.local.runner import RunReport
from runtime.plan.builder import build_plan
from runtime.plan.configuration import PlanningConfiguration
from runtime.spec import parse_spec
from tests.runtime.specs import spec_dict

runner = CliRunner()
LONG_URI = "s3://bucket/" + "/".join(["a-rather-long-directory-name"] * 6) + "/input.txt"


def _plan(**params: object) -> object:
    data = spec_dict(params={"input": LONG_URI, "output": "out.txt", **params})
    configuration = PlanningConfiguration()
    return build_plan(parse_spec(data), configuration.volumes, configuration.context)


@pytest.mark.parametrize("width", [40, 80, 120])
def test_markup_in_values_is_shown_as_written_on_a_terminal(width: int) -> None:
    console = Console(record=True, width=width, force_terminal=True, file=io.StringIO())
    render_plan(_plan(closing="[/bold] x", bold="[bold]x[/bold]"), console)  # type: ignore[arg-type]
    text = console.export_text().replace("\n", "")
    for shown in ("[/bold] x", "[bold]x[/bold]"):
        assert shown.replace(" ", "") in text.replace(" ", "").replace("│", "")


def test_through_a_pipe_nothing_is_cut_or_wrapped() -> None:
    piped = io.StringIO()
    execution_plan = _plan(closing="[/bold] x")
    render_plan(execution_plan, Console(file=piped, width=40))  # type: ignore[arg-type]
    out = piped.getvalue()
    assert LONG_URI in out
    assert "…" not in out
    script = execution_plan.job.command[-1].rstrip()  # type: ignore[attr-defined]
    shown = [line.split("    ", 1)[-1] for line in out.splitlines()]
    assert all(line.strip() in "\n".join(shown) for line in script.splitlines())
    assert all(line == line.rstrip() for line in out.splitlines())


def test_run_summary_through_a_pipe_is_not_padded_and_escapes_markup() -> None:
    report = RunReport(
        execution_id="x", failed_step="stage_in", error="no object s3://b/[/x] " + "y" * 120
    )
    piped = io.StringIO()
    render_report(report, Console(file=piped, width=80))
    lines = piped.getvalue().splitlines()
    assert any("[/x] " + "y" * 120 in line for line in lines)
    assert all(line == line.rstrip() for line in lines)
    assert "0 B in 0 files" in piped.getvalue()


def test_plan_command_with_markup_values_ends_cleanly(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    params = {"input": LONG_URI, "output": "out.txt", "o": "[/bold] x"}
    spec.write_text(yaml.safe_dump(spec_dict(params=params)))
    result = runner.invoke(app, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    assert "O=[/bold] x" in result.stdout
    assert LONG_URI in result.stdout


def test_help_shows_defaults_and_no_bool_metavars() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "60"}, terminal_width=60)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "[default: ~/.cache/demand]" in text
    assert "<bool>" not in result.stdout
    assert "process|docker" in result.stdout
    listing = runner.invoke(app, ["list", "--help"], terminal_width=60)
    assert "running|succeeded|failed|timed_out|aborted" in listing.stdout  # never split


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("demand ")
