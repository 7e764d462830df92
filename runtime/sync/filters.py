"""Include / exclude globs over paths relative to the sync's root, with ``aws s3 sync``'s rules.

The AWS CLI's documentation ("Use of Exclude and Include Filters", ``aws help s3`` / the
awscli ``s3/_concepts.rst``, checked for this module) says: every path is included by default;
``--exclude`` / ``--include`` may be repeated and mixed; "the filters that appear later in the
command take precedence over filters that appear earlier", so ``--exclude "*" --include
"*.txt"`` selects only ``.txt`` files while ``--include "*.txt" --exclude "*"`` selects
nothing, and an ``--include`` alone changes nothing. Patterns are matched against the path below
the source directory; ``*`` also matches ``/`` (``*.csv`` selects CSV files at any depth).

Rules are ``(kind, pattern)`` pairs in command-line order. A path's fate is decided by the last
rule that matches it (none: included). Excluded destination files are never deleted.

``include_regex`` / ``exclude_regex`` rules take a regular expression instead, matched against
the whole relative path (``re.fullmatch``), as the established system's per-input filters are;
for a single object (whose relative path is empty) they match its name, as there too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from fnmatch import translate
from typing import TypeAlias

# One filter as given: ("include" | "exclude", pattern), in command-line order.
FilterRule: TypeAlias = tuple[str, str]

INCLUDE = "include"
EXCLUDE = "exclude"
INCLUDE_REGEX = "include_regex"
EXCLUDE_REGEX = "exclude_regex"


def _glob(pattern: str) -> Callable[[str], bool]:
    # DOTALL: a name holding a newline is still one path (fnmatch's "*" would stop at it).
    match = re.compile(translate(pattern), re.DOTALL).match
    return lambda relpath: match(relpath) is not None


def _regex(pattern: str) -> Callable[[str], bool]:
    match = re.compile(pattern).fullmatch
    return lambda relpath: match(relpath) is not None


# How each kind's pattern becomes a predicate, and whether a match selects the path.
MATCHERS: dict[str, tuple[Callable[[str], Callable[[str], bool]], bool]] = {
    INCLUDE: (_glob, True),
    EXCLUDE: (_glob, False),
    INCLUDE_REGEX: (_regex, True),
    EXCLUDE_REGEX: (_regex, False),
}
# The kinds that see a single object by its name.
BY_NAME = frozenset({INCLUDE_REGEX, EXCLUDE_REGEX})


def check_rules(rules: Iterable[Sequence[object]]) -> tuple[FilterRule, ...]:
    """``rules`` as pairs, each of a known kind and a string pattern; ValueError if not."""
    checked: list[FilterRule] = []
    for rule in rules:
        if len(rule) != 2 or not all(isinstance(part, str) for part in rule):
            raise ValueError(f"a filter is a [kind, pattern] pair of strings, got {rule!r}")
        kind, pattern = str(rule[0]), str(rule[1])
        if kind not in MATCHERS:
            raise ValueError(f"filter kind {kind!r} is not one of {', '.join(MATCHERS)}")
        if kind in BY_NAME:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        checked.append((kind, pattern))
    return tuple(checked)


class PathFilter:
    def __init__(self, rules: Sequence[FilterRule] = (), *, single_name: str = "") -> None:
        """``single_name``: the name of the source when it is a single object."""
        compiled: list[tuple[Callable[[str], bool], bool]] = []
        for kind, pattern in check_rules(rules):
            make, selects = MATCHERS[kind]
            matches = make(pattern)
            if kind in BY_NAME and single_name:
                matches = _by_name(matches, single_name)
            compiled.append((matches, selects))
        # Evaluated last rule first: the first match found is the one that wins.
        self._rules = compiled[::-1]

    def __call__(self, relpath: str) -> bool:
        for matches, selects in self._rules:
            if matches(relpath):
                return selects
        return True

    @staticmethod
    def ineffective_includes(rules: Sequence[FilterRule]) -> list[str]:
        """Include patterns with no exclude before them: as in aws, they change nothing."""
        useless: list[str] = []
        excluded_before = False
        for kind, pattern in rules:
            if kind == INCLUDE and not excluded_before:
                useless.append(pattern)
            elif MATCHERS.get(kind, (None, True))[1] is False:
                excluded_before = True
        return useless


def _by_name(matches: Callable[[str], bool], name: str) -> Callable[[str], bool]:
    return lambda relpath: matches(relpath or name)
