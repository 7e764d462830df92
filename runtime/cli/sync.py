"""``demand sync SOURCE DESTINATION``: the sync engine on the command line.

A typer command without an app of its own: ``runtime.cli`` registers it. On a terminal it draws
a rich progress bar (objects, bytes, rate); it always ends with a one-line summary, or with
``--json`` the summary as JSON. Exit status 1 when anything failed, 2 for a location that
cannot work (one line on stderr, no traceback), 130 / 143 when SIGINT / SIGTERM stopped it
(transfers in flight cancelled, multipart uploads aborted: :mod:`runtime.sync.interrupt`).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from typer._click.core import Context as ClickContext  # typer 0.29 vendors its click
from typer.core import TyperCommand

from runtime.cli.errors import EXIT_FAILED, EXIT_INVALID
from runtime.cli.progress import SyncBar
from runtime.sync.api import sync
from runtime.sync.errors import SyncError, SyncLocationError
from runtime.sync.filters import EXCLUDE, INCLUDE, FilterRule, PathFilter
from runtime.sync.interrupt import exit_status, sigterm_interrupts
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.report import brief, summary_line

_FILTER_ORDER = "demand.sync.filter-order"


class SyncCommand(TyperCommand):
    """``demand sync``'s click command: remembers the order of ``--include`` / ``--exclude``.

    click hands each repeatable option's values over as one list per option, losing how the two
    interleave; aws s3 sync's rule (the later filter wins) needs it. The parser's own record of
    the order the options came in is kept in ``ctx.meta`` for :func:`sync_command`.
    """

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
        bool, typer.Option("--force", help="Copy everything, even what is already current.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Copy an object or a prefix / directory between S3 and a file system, verified."""
    console = Console(stderr=True)
    rules = _ordered_rules(ctx, include or [], exclude or [])
    for pattern in PathFilter.ineffective_includes(rules):
        # True to aws semantics, and said so: a user expecting rclone's "only these" learns why.
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
        with sigterm_interrupts():
            if console.is_terminal and not json_output:
                result = _with_progress_bar(request, console)
            else:
                result = sync(request)
    except KeyboardInterrupt as interrupt:
        typer.echo("interrupted: transfers in flight were cancelled", err=True)
        raise typer.Exit(exit_status(interrupt)) from None
    except (SyncLocationError, ValidationError) as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except SyncError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    for line in result.errors:
        typer.echo(line, err=True)
    if json_output:
        typer.echo(json.dumps(brief(result)))
    else:
        typer.echo(summary_line(result))
    if result.failed:
        raise typer.Exit(EXIT_FAILED)


def _with_progress_bar(request: SyncRequest, console: Console) -> SyncResult:
    bar = SyncBar(console, "sync")
    try:
        return sync(request, progress=bar)
    finally:
        bar.close()


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)
