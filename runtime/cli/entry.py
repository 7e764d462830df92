"""The ``demand`` entry point: nothing but the standard library until the command is imported.

Importing the command takes a noticeable moment (typer, rich, pydantic, boto3); a Ctrl-C or a
SIGTERM in that moment is an interruption like any other — exit 130 / 143 and no traceback —
not Python's KeyboardInterrupt traceback from inside an import.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from runtime.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED  # a leaf: typing alone


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(EXIT_TERMINATED)


def main() -> None:
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        from runtime.cli.app import main as command
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)
    command()
