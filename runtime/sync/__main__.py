"""``python -m runtime.sync SOURCE DESTINATION``: the engine's lean command line.

The same sync as ``demand sync`` without the progress bar, and without importing pydantic,
typer or rich: it starts in well under 0.1 s, which matters for short syncs in scripts and in
the benchmark. Exit status: 0 when all went well (an empty S3 source included, unless with
``--delete``), 1 when anything failed, 2 for a bad location or ``DEMAND_SYNC_*`` setting,
130 / 143 when SIGINT / SIGTERM stopped it (after cancelling what was in flight and aborting
its multipart uploads, see :mod:`runtime.sync.interrupt`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from runtime.sync.api import sync
from runtime.sync.errors import EmptySourceError, SyncError, SyncLocationError
from runtime.sync.filters import EXCLUDE, INCLUDE
from runtime.sync.interrupt import exit_status, sigterm_interrupts
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.report import brief, summary_line


class _Rule(argparse.Action):
    """Appends ``(kind, pattern)`` to the shared list, ``kind`` being the option's ``const``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=None, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        # A copy: the default list is shared by every parse.
        rules = [*getattr(namespace, self.dest), (self.const, values)]
        setattr(namespace, self.dest, rules)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.sync", description=__doc__)
    parser.add_argument("source")
    parser.add_argument("destination")
    # One list for both, in command-line order: the later filter wins (as in aws s3 sync).
    for kind in (INCLUDE, EXCLUDE):
        parser.add_argument(
            f"--{kind}", dest="filters", action=_Rule, const=kind, default=[], metavar="GLOB"
        )
    parser.add_argument("--size-only", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--delete", action="store_true")
    parser.add_argument("--cached", action="store_true", help="shared-cache stage-in")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    job = SyncRequest(
        source=args.source,
        destination=args.destination,
        filters=tuple(args.filters),
        size_only=args.size_only,
        force=args.force,
        delete=args.delete,
        cached=args.cached,
    )
    try:
        with sigterm_interrupts():
            summary = sync(job)
    except KeyboardInterrupt as interrupt:
        print("interrupted: transfers in flight were cancelled", file=sys.stderr)
        return exit_status(interrupt)
    except EmptySourceError as exc:
        if job.delete:  # it would empty the destination: a typo far more often than an intent
            print(f"error: {exc}: refusing --delete", file=sys.stderr)
            return 2
        print(f"note: {exc}: nothing to copy", file=sys.stderr)  # exit 0, as aws and s5cmd
        summary = SyncResult()
    except SyncLocationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in summary.errors:
        print(line, file=sys.stderr)
    print(json.dumps(brief(summary)) if args.json else summary_line(summary))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
