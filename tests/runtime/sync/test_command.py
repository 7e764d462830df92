"""``demand sync`` as a user runs it: summary, JSON, exit codes, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from runtime.cli.progress import SyncBar
from runtime.cli.run_report import render_report
from runtime.cli.sync import SyncCommand, sync_command
from runtime.local.runner import RunReport, StageSummary
from runtime.sync.__main__ import main
from runtime.sync.settings import TUNING_VARIABLES, MiB
from tests.runtime.sync.conftest import read_tree
from tests.runtime.sync.faults import Faults, FaultyServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture
def cli(s3_server: FaultyServer, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The command on a throwaway app, its S3 settings from the environment as a user's."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    return local_cli()


def local_cli() -> typer.Typer:
    app = typer.Typer()
    app.command("sync", cls=SyncCommand)(sync_command)
    app.command("other")(lambda: None)  # with two commands, "sync" is a subcommand as in demand
    return app


POEMS = {"poem.txt": b"roses", "other.txt": b"x", "sub/poem.md": b"y", "sub/poems/a": b"z"}


def poem_tree(root: Path) -> Path:
    for name, body in POEMS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


@pytest.mark.parametrize(
    ("filters", "copied"),
    [
        (["--exclude", "*", "--include", "poem*"], {"poem.txt"}),
        (["--include", "poem*", "--exclude", "*"], set()),
        (["--exclude=*", "--include=*poem*", "--exclude", "sub/*"], {"poem.txt"}),
        (
            ["--exclude", "sub/*", "--include", "sub/poems/*"],
            {"poem.txt", "other.txt", "sub/poems/a"},
        ),
    ],
)
def test_later_filter_wins_across_include_and_exclude(
    tmp_path: Path, filters: list[str], copied: set[str]
) -> None:
    """As ``aws s3 sync``: the filters are evaluated in command-line order, the last match wins."""
    source = poem_tree(tmp_path / "src")
    result = CliRunner().invoke(local_cli(), ["sync", str(source), str(tmp_path / "d"), *filters])
    assert result.exit_code == 0, result.output
    assert set(read_tree(tmp_path / "d")) == copied
    lean = main([str(source), str(tmp_path / "lean"), *filters])
    assert lean == 0
    assert set(read_tree(tmp_path / "lean")) == copied


def test_an_include_alone_is_said_to_change_nothing(tmp_path: Path) -> None:
    source = poem_tree(tmp_path / "src")
    result = CliRunner().invoke(
        local_cli(), ["sync", str(source), str(tmp_path / "d"), "--include", "poem*"]
    )
    assert result.exit_code == 0, result.output
    assert set(read_tree(tmp_path / "d")) == set(POEMS)  # aws: everything is included by default
    assert "--include 'poem*' changes nothing" in result.stderr


def test_json_summary(
    cli: typer.Typer, server_client: S3Client, bucket: str, tmp_path: Path
) -> None:
    for name in ("a.txt", "b/c.txt"):
        server_client.put_object(Bucket=bucket, Key=f"in/{name}", Body=b"12345")
    result = CliRunner().invoke(cli, ["sync", f"s3://{bucket}/in/", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"transferred", "skipped", "failed", "bytes", "seconds"}
    assert (summary["transferred"], summary["bytes"], summary["failed"]) == (2, 10, 0)

    again = CliRunner().invoke(
        cli, ["sync", f"s3://{bucket}/in/", str(tmp_path), "--exclude", "b/*", "--size-only"]
    )
    assert again.exit_code == 0
    assert again.stdout.startswith("0 transferred, 1 skipped, 0 failed")


def test_upload_with_delete(
    cli: typer.Typer, server_client: S3Client, bucket: str, tmp_path: Path
) -> None:
    server_client.put_object(Bucket=bucket, Key="out/stale.txt", Body=b"old")
    (tmp_path / "new.txt").write_bytes(b"new")
    result = CliRunner().invoke(cli, ["sync", str(tmp_path), f"s3://{bucket}/out", "--delete"])
    assert result.exit_code == 0, result.output
    assert "1 transferred" in result.stdout
    assert "1 deleted" in result.stdout
    keys = [o["Key"] for o in server_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["out/new.txt"]


@pytest.mark.parametrize(
    "source", ["ftp://host/file", "s3://x", "/definitely/not/here", "s3://no-such-bucket-zz/a/"]
)
def test_bad_location_is_one_line_and_exit_2(cli: typer.Typer, source: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sync", source, str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_failures_exit_non_zero_and_are_named(
    cli: typer.Typer, faults: Faults, server_client: S3Client, bucket: str, tmp_path: Path
) -> None:
    server_client.put_object(Bucket=bucket, Key="in/good", Body=b"good")
    server_client.put_object(Bucket=bucket, Key="in/bad", Body=b"bad bytes")
    faults.corrupt_pattern = "in/bad"
    result = CliRunner().invoke(cli, ["sync", f"s3://{bucket}/in/", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["failed"] == 1
    assert f"s3://{bucket}/in/bad" in result.stderr


def test_rich_progress_counts_objects_and_bytes() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    subscriber = SyncBar(console, "sync")
    subscriber.on_total(2, 300)
    subscriber.on_progress(100)
    subscriber.on_done("a", "transferred")
    subscriber.on_done("b", "skipped")
    task = subscriber._progress.tasks[0]
    subscriber.close()
    assert (task.total, task.completed) == (300, 100)
    assert task.fields["objects"] == "1/2 files"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rendered(bar: SyncBar, width: int) -> str:
    """The bar as a terminal of ``width`` columns shows it."""
    recorder = Console(record=True, width=width, force_terminal=True, file=io.StringIO())
    recorder.print(bar._progress)
    return recorder.export_text()


@pytest.mark.parametrize("width", [120, 80])
def test_the_bar_shows_binary_units_a_rate_and_the_time_left(width: int) -> None:
    clock = Clock()
    bar = SyncBar(Console(file=io.StringIO(), force_terminal=True), "sync", get_time=clock)
    bar.on_total(1, 100 * MiB)
    for _ in range(10):  # 2 MiB each half second: 4 MiB/s, 80 MiB to go: 20 s left
        clock.now += 0.5
        bar.on_progress(2 * MiB)
    text = rendered(bar, width)
    assert bar._progress.live.transient  # gone from the terminal once the sync ends
    bar.close()
    assert "0/1 file " in text  # one file, not "1 files"
    assert "20.0/100.0 MiB" in text
    assert "4.0 MiB/s" in text
    assert "0:00:20" in text  # the ETA
    assert "MB" not in text.replace("MiB", "")  # one unit family: binary


def test_piped_there_is_no_bar_and_the_summary_is_plain(tmp_path: Path) -> None:
    source = poem_tree(tmp_path / "src")
    result = CliRunner().invoke(local_cli(), ["sync", str(source), str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("4 transferred, 0 skipped, 0 failed; ")


@pytest.mark.parametrize(
    ("flags", "bar_drawn"), [([], True), (["--no-progress"], False), (["--quiet"], False)]
)
def test_on_a_terminal_the_bar_is_drawn_unless_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], bar_drawn: bool
) -> None:
    drawn: list[str] = []
    real_bar = SyncBar

    def recording_bar(console: Console, label: str) -> SyncBar:
        drawn.append(label)
        return real_bar(console, label)

    monkeypatch.setattr("runtime.cli.sync.SyncBar", recording_bar)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stderr for a terminal
    source = poem_tree(tmp_path / "src")
    result = CliRunner().invoke(local_cli(), ["sync", str(source), str(tmp_path / "d"), *flags])
    assert result.exit_code == 0, result.output
    assert bool(drawn) is bar_drawn
    if "--quiet" in flags:
        assert (result.stdout, result.stderr) == ("", "")
    else:
        assert result.stdout.startswith("4 transferred")
    assert set(read_tree(tmp_path / "d")) == set(POEMS)


def test_a_dry_run_says_what_it_would_do_and_does_nothing(
    cli: typer.Typer, server_client: S3Client, bucket: str, tmp_path: Path
) -> None:
    for name, body in {"same.txt": b"same", "new.txt": b"new", "sub/n.txt": b"n"}.items():
        server_client.put_object(Bucket=bucket, Key=f"in/{name}", Body=body)
    destination = tmp_path / "d"
    destination.mkdir()
    (destination / "same.txt").write_bytes(b"same")
    (destination / "stale.txt").write_bytes(b"old")
    before = read_tree(destination)
    args = ["sync", f"s3://{bucket}/in/", str(destination), "--delete", "--dry-run"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert read_tree(destination) == before
    assert list(tmp_path.iterdir()) == [destination]  # no partials directory either
    lines = result.stdout.splitlines()
    assert sorted(lines[:-1]) == [
        "(dry run) copy: new.txt",
        "(dry run) copy: sub/n.txt",
        "(dry run) delete: stale.txt",
    ]
    assert lines[-1] == "dry run: would copy 2 files (4 B), delete 1; 1 already current"

    as_json = CliRunner().invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0
    summary = json.loads(as_json.stdout)  # stdout is the summary alone
    assert (summary["transferred"], summary["dry_run"]) == (2, True)
    assert "(dry run) delete: stale.txt" in as_json.stderr

    upload = CliRunner().invoke(cli, ["sync", str(destination), f"s3://{bucket}/up/", "--dry-run"])
    assert upload.exit_code == 0
    assert "Contents" not in server_client.list_objects_v2(Bucket=bucket, Prefix="up/")


def test_an_empty_source_prefix_is_nothing_to_do(
    cli: typer.Typer, bucket: str, tmp_path: Path
) -> None:
    """As aws s3 sync and s5cmd: exit 0 (measured: both exit 0 for an empty prefix)."""
    result = CliRunner().invoke(cli, ["sync", f"s3://{bucket}/nothing/", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0 transferred, 0 skipped, 0 failed")
    assert "nothing to copy" in result.stderr
    as_json = CliRunner().invoke(
        cli, ["sync", f"s3://{bucket}/nothing/", str(tmp_path / "d"), "--json"]
    )
    assert (as_json.exit_code, json.loads(as_json.stdout)["transferred"]) == (0, 0)


def test_an_empty_source_with_delete_is_refused_and_deletes_nothing(
    cli: typer.Typer, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "keep.txt").write_bytes(b"k")
    result = CliRunner().invoke(cli, ["sync", f"s3://{bucket}/nothing/", str(tmp_path), "--delete"])
    assert result.exit_code == 2
    assert "refusing --delete" in result.stderr
    assert result.stderr.count("\n") == 1
    assert (tmp_path / "keep.txt").exists()


def test_the_lean_command_line_agrees_on_an_empty_source(
    s3_server: FaultyServer, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    assert main([f"s3://{bucket}/nothing/", str(tmp_path)]) == 0
    assert main([f"s3://{bucket}/nothing/", str(tmp_path), "--delete"]) == 2


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DEMAND_SYNC_PART_SIZE", "8XB", "takes a size"),
        ("DEMAND_SYNC_PART_SIZE", "1MiB", "between 5 MiB and 5 GiB"),
        ("DEMAND_SYNC_MEMORY_LIMIT", "128MiB", "between 256 MiB (the CRT's minimum) and 1 TiB"),
        ("DEMAND_SYNC_MEMORY_LIMIT", "18446744073843769344", "between 256 MiB"),
        ("DEMAND_SYNC_MEMORY_LIMIT", "16777217T", "and 1 TiB"),
        ("DEMAND_SYNC_PART_SIZE", "300MiB", "half of DEMAND_SYNC_MEMORY_LIMIT"),
        ("DEMAND_SYNC_MAX_IN_FLIGHT", "lots", "takes a whole number"),
        ("DEMAND_SYNC_CONNECTIONS_PER_OBJECT", "0", "between 1 and 1024"),
        ("DEMAND_SYNC_CONNECTIONS_PER_OBJECT", "4294967297", "between 1 and 1024"),
        ("DEMAND_SYNC_MAX_IN_FLIGHT", "99999999999999999999", "between 1 and 10000"),
        ("DEMAND_SYNC_THROUGHPUT_GBPS", "inf", "above 0 and at most 1000"),
        ("DEMAND_SYNC_THROUGHPUT_GBPS", "1e300", "above 0 and at most 1000"),
        ("DEMAND_SYNC_THROUGHPUT_GBPS", "fast", "takes a number"),
        ("DEMAND_SYNC_ADDRESSING_STYLE", "pathy", "auto, path or virtual"),
    ],
)
def test_a_bad_tuning_variable_is_one_line_naming_it(
    cli: typer.Typer,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli, ["sync", f"s3://{bucket}/in/", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {variable}")
    assert named in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_help_documents_force_filters_and_the_tuning_variables() -> None:
    result = CliRunner().invoke(local_cli(), ["sync", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for variable in TUNING_VARIABLES:
        assert variable in text
    assert "--force" in text
    assert "the later one that matches wins" in text


def test_the_run_report_counts_one_file_in_the_singular() -> None:
    report = RunReport(
        execution_id="one",
        status="SUCCEEDED",
        exit_code=0,
        stage_in=StageSummary(transferred=1, bytes=2048),
        stage_out=StageSummary(transferred=2, bytes=10),
    )
    out = io.StringIO()
    render_report(report, Console(width=80, file=out))
    text = out.getvalue()
    assert "2.0 KiB in 1 file, 0 already current" in text
    assert "10 B in 2 files," in text
