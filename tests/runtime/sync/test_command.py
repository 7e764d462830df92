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
from runtime.cli.sync import SyncCommand, sync_command
from runtime.sync.__main__ import main
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
    assert task.fields["objects"] == "1/2 objects"
