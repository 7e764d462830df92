"""Printing rich renderables honestly: laid out for the terminal when there is one; through a
pipe or into a file, every line whole — nothing cut to "…", wrapped or padded to a width that
no terminal asked for, so what is shown (a URI, a script) is exactly what runs."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType

# Wide enough that no line of a plan or a report is ever cut or wrapped through a pipe.
PIPE_WIDTH = 100_000


def output_console(*, stderr: bool = False) -> Console:
    """The console a command prints to: emoji codes and markup in values are never read as
    such (values are :class:`rich.text.Text`), nor highlighted."""
    return Console(stderr=stderr, highlight=False, emoji=False)


def emit(console: Console, renderable: RenderableType) -> None:
    """Print ``renderable`` on ``console``: as rich lays it out on a terminal, else at a width
    nothing reaches and without the trailing spaces of that layout."""
    if console.is_terminal:
        console.print(renderable)
        return
    wide = Console(
        file=io.StringIO(),
        width=PIPE_WIDTH,
        color_system=None,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    wide.print(renderable)
    text = wide.file.getvalue()  # type: ignore[attr-defined]
    console.file.write("".join(f"{line.rstrip()}\n" for line in text.splitlines()))
    console.file.flush()
