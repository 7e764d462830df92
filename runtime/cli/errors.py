"""How every ``demand`` command reports the project's errors: one ``error:`` line per problem on
stderr, exit code 2 for an invalid request or configuration, 1 for a failure to carry it out —
never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from runtime.errors import DemandError, DocumentError, PlanError

EXIT_INVALID = 2
EXIT_FAILED = 1


@contextmanager
def reported_errors() -> Iterator[None]:
    try:
        yield
    except DocumentError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except PlanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except DemandError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
