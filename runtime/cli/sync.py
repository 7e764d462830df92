"""``demand sync SOURCE DESTINATION``: the sync engine on the command line.

A typer command without an app of its own: ``runtime.cli`` registers it. On a terminal it draws
a rich progress bar (objects, bytes, rate); it always ends with a one-line summary, or with
``--json`` the summary as JSON. Exit status 1 when anything failed, 2 for a location that
cannot work (one line on stderr, no traceback), 130 / 143 when SIGINT / SIGTERM stopped it
(transfers in flight cancelled, multipart uploads aborted: :mod:`runtime.sync.interrupt`).
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from typer._click.core import Context as ClickContext  # typer 0.29 vendors its click
from typer.core import TyperCommand

from runtime.cli.cloud import EndpointOption, ProfileOption, RegionOption, aws_settings
from runtime.cli.errors import EXIT_FAILED, EXIT_INVALID
from runtime.cli.progress import SyncBar
from runtime.sync.api import sync
from runtime.sync.errors import EmptySourceError, SyncError, SyncLocationError
from runtime.sync.filters import EXCLUDE, INCLUDE, FilterRule, PathFilter
from runtime.sync.interrupt import exit_status, sigterm_interrupts
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.progress import Outcome, ProgressSubscriber, SyncProgress
from runtime.sync.report import brief, dry_run_line, summary_line

_FILTER_ORDER = "demand.sync.filter-order"


SYNC_EPILOG = (
    "Filters work as in aws s3 sync: every path is included unless excluded, and of several "
    "--include / --exclude the later one that matches wins (--exclude '*' --include '*.txt' "
    "copies only .txt files); * also matches /.\n\n"
    "A file is skipped when the destination already holds the same content (size, then "
    "checksum or ETag; --size-only: size alone); --force copies it anyway. A file found to "
    "hold an object's ETag once is not read again while its size, mtime, ctime and inode stay "
    "the same (a record in DEMAND_SYNC_DIGESTS: a path, or off; default "
    "~/.cache/demand/sync-digests.sqlite).\n\n"
    "Nothing at an S3 source is nothing to do (exit 0, as aws and s5cmd), except with "
    "--delete: that would empty the destination, and is refused (exit 2).\n\n"
    "Tuning (environment): DEMAND_SYNC_PART_SIZE (8MiB; 5MiB-5GiB, at most half the memory "
    "limit), DEMAND_SYNC_MULTIPART_THRESHOLD (16MiB; uploads above it go in parts), "
    "DEMAND_SYNC_MEMORY_LIMIT (256MiB, the memory budget; 256MiB-1TiB), "
    "DEMAND_SYNC_MAX_IN_FLIGHT (256 "
    "objects at once; 1-10000), DEMAND_SYNC_CONNECTIONS_PER_OBJECT (8; 1-1024), "
    "DEMAND_SYNC_THROUGHPUT_GBPS (5; at most 1000), DEMAND_SYNC_ADDRESSING_STYLE (auto, path "
    "or virtual). The endpoint, region and "
    "credentials come from the standard AWS settings (AWS_ENDPOINT_URL, AWS_PROFILE, ...).\n\n"
    "Exit status: 0 done, 1 something failed (each named on stderr), 2 a location or setting "
    "that cannot work, 130 / 143 stopped by SIGINT / SIGTERM (nothing left half-written)."
)


class SyncCommand(TyperCommand):
    """``demand sync``'s click command: remembers the order of ``--include`` / ``--exclude``.

    click hands each repeatable option's values over as one list per option, losing how the two
    interleave; aws s3 sync's rule (the later filter wins) needs it. The parser's own record of
    the order the options came in is kept in ``ctx.meta`` for :func:`sync_command`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The epilog lives here so that registering the command needs only ``cls``.
        kwargs["epilog"] = kwargs.get("epilog") or SYNC_EPILOG
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        ctx.meta[_FILTER_ORDER] = [
            param.name for param in order if param.name in (INCLUDE, EXCLUDE)
        ]
        return super().parse_args(ctx, args)


def _ordered_rules(ctx: ClickContext, include: list[str], exclude: list[str]) -> list[FilterRule]:
    if not include and not exclude:
        return []
    order = ctx.meta.get(_FILTER_ORDER)
    if order is None:
        raise RuntimeError("register sync_command with cls=SyncCommand")
    values = {INCLUDE: iter(include), EXCLUDE: iter(exclude)}
    return [(kind, next(values[kind])) for kind in order]


def sync_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="s3://bucket/key, a path, file:// or efs:// URI.")],
    destination: Annotated[str, typer.Argument(help="Where the copy goes (same forms).")],
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            metavar="GLOB",
            help="Take back paths an earlier --exclude removed (repeatable; later wins).",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Skip paths matching this glob (repeatable; the later filter wins).",
        ),
    ] = None,
    size_only: Annotated[
        bool, typer.Option("--size-only", help="Compare by size only, not by checksum / ETag.")
    ] = False,
    delete: Annotated[
        bool, typer.Option("--delete", help="Remove destination files absent from the source.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Copy every selected file, even those already current.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what would be copied and deleted; change nothing."),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print nothing but errors (and --json's summary)."),
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar (there is none when piped).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Copy an object or a prefix / directory between S3 and a file system, verified."""
    # The AWS flags hold until the command's context closes, as they do for every command.
    ctx.with_resource(aws_settings(profile, region, endpoint_url))
    console = Console(stderr=True)
    rules = _ordered_rules(ctx, include or [], exclude or [])
    if not quiet:
        for pattern in PathFilter.ineffective_includes(rules):
            # True to aws semantics, and said so: a user expecting rclone's "only these"
            # learns why everything was copied.
            typer.echo(
                f"note: --include {pattern!r} changes nothing: no --exclude before it "
                "(everything is included unless excluded)",
                err=True,
            )
    try:
        request = SyncRequest(
            source=source,
            destination=destination,
            filters=tuple(rules),
            size_only=size_only,
            delete=delete,
            force=force,
        )
        progress: SyncProgress | None = None
        bar: SyncBar | None = None
        if dry_run:
            progress = DryRunLines(quiet=quiet, err=json_output)
        elif console.is_terminal and not (json_output or quiet or no_progress):
            progress = bar = SyncBar(console, "sync")
        try:
            with sigterm_interrupts():
                result = sync(request, progress=progress, dry_run=dry_run)
        finally:
            if bar is not None:
                bar.close()
    except KeyboardInterrupt as interrupt:
        typer.echo("interrupted: transfers in flight were cancelled", err=True)
        raise typer.Exit(exit_status(interrupt)) from None
    except EmptySourceError as exc:
        if delete:
            typer.echo(
                f"error: {exc}: refusing --delete, which would empty {destination}", err=True
            )
            raise typer.Exit(EXIT_INVALID) from None
        # As aws s3 sync and s5cmd: nothing to copy is not a failure (said, for a typo's sake).
        if not quiet:
            typer.echo(f"note: {exc}: nothing to copy", err=True)
        result = SyncResult()
    except (SyncLocationError, ValidationError) as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except SyncError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    for line in result.errors:
        typer.echo(line, err=True)
    if json_output:
        summary: dict[str, object] = {**brief(result)}
        if dry_run:
            summary["dry_run"] = True
        typer.echo(json.dumps(summary))
    elif not quiet:
        typer.echo(dry_run_line(result) if dry_run else summary_line(result))
    if result.failed:
        raise typer.Exit(EXIT_FAILED)


class DryRunLines(ProgressSubscriber):
    """A dry run's report: one stdout line per file that would be copied or deleted, named
    relative to SOURCE / DESTINATION as given (aws prints ``(dryrun) upload: ...``); on
    stderr with ``--json``, whose stdout is the summary alone."""

    def __init__(self, *, quiet: bool, err: bool) -> None:
        self._quiet = quiet
        self._err = err
        self._lock = threading.Lock()  # outcomes arrive from the content-check threads too

    def on_done(self, name: str, outcome: Outcome) -> None:
        if self._quiet or outcome not in ("transferred", "deleted"):
            return
        verb = "copy" if outcome == "transferred" else "delete"
        with self._lock:
            typer.echo(f"(dry run) {verb}: {name}", err=self._err)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)
