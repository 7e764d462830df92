"""The bash script a job runs: prepare the working dir, then run the user's command exactly.

Every argument is shell-quoted, so spaces, quotes, ``$(...)``, ``;``, backticks and newlines reach
the process byte for byte. The only thing bash interprets is a ``${NAME}`` reference to a
parameter, which becomes ``"${VARIABLE}"`` — expanded, but never split or globbed.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

from runtime.spec import REFERENCE


def quote_argument(argument: str, variable_for: Mapping[str, str]) -> str:
    """One shell word: literal text single-quoted, references as double-quoted expansions."""
    pieces: list[str] = []
    position = 0
    for match in REFERENCE.finditer(argument):
        if match.start() > position:
            pieces.append(shlex.quote(argument[position : match.start()]))
        pieces.append(f'"${{{variable_for[match[1]]}}}"')
        position = match.end()
    if position < len(argument) or not pieces:
        pieces.append(shlex.quote(argument[position:]))
    return "".join(pieces)


def referenced_names(command: Iterable[str]) -> set[str]:
    """The names the command's ``${NAME}`` references use, as written."""
    return {name for argument in command for name in REFERENCE.findall(argument)}


def job_script(
    command: list[str],
    variable_for: Mapping[str, str],
    *,
    working_dir: str,
    tmp_dir: str,
    env_file: str | None,
) -> str:
    """The script given to ``/bin/bash -c``.

    ``exec`` hands the process's exit code and signals straight to Batch; ``set -a`` while
    sourcing the env file exports what it defines, as the container environment would.
    """
    lines = [
        "set -euo pipefail",
        f"mkdir -p {shlex.quote(working_dir)} {shlex.quote(tmp_dir)}",
        f"cd {shlex.quote(working_dir)}",
    ]
    if env_file is not None:
        lines.append(f"set -a; . {shlex.quote(env_file)}; set +a")
    lines.append("exec " + " ".join(quote_argument(arg, variable_for) for arg in command))
    return "\n".join(lines) + "\n"


def env_file_content(environment: Mapping[str, str]) -> str:
    """``NAME='value'`` lines that bash sources back to exactly the same values."""
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in environment.items())
