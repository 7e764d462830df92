"""Include / exclude globs over paths relative to the sync's root.

As in ``aws s3 sync``, ``*`` also matches ``/`` (so ``*.csv`` selects CSV files at any depth).
A path is selected when it matches some include pattern (or none are given) and no exclude
pattern. Excluded destination files are never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import translate


class PathFilter:
    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self._include = _compile(include)
        self._exclude = _compile(exclude)

    def __call__(self, relpath: str) -> bool:
        if self._include is not None and not self._include.match(relpath):
            return False
        return self._exclude is None or not self._exclude.match(relpath)


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # One alternation per side: a single regex match per path, however many patterns.
    return re.compile("|".join(f"(?:{translate(pattern)})" for pattern in patterns), re.DOTALL)
