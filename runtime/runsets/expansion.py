"""A template and a table make a run set: one valid request per row, each with a stable id.

Every row is validated before anything starts, and every problem of every row is reported —
one line each, naming the row (``rows.csv:18: row 17: execution_parameters.params.sample: …``);
a problem every row shares is the template's, and is said once. Then:

- **ids**: a row's ``execution_id`` (column or key) when it gives one, else
  ``<set id>-<row number>``. The set id is ``--set-id``, or derived from the content of the
  template and the table (``<template's execution_id or file name>-<12 hex digits>``), so the
  same set submitted again has the same ids and is recognised. Ids are unique in the set.
- **outputs**: no two rows may write to the same place (the same destination, or one inside
  another's): they would overwrite each other's results.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from runtime.documents import field_part, read_document
from runtime.errors import DocumentError, PlanError, SpecError
from runtime.runsets.models import RunSet, RunSetError, RunSetRow, Table, TableRow
from runtime.runsets.tables import EXECUTION_ID_COLUMN, read_table
from runtime.spec import (
    REFERENCE,
    DemandExecution,
    env_name,
    json_kind,
    output_bindings,
    parse_spec,
    with_relative_files_resolved,
)

# A set id: as an execution id, and short enough that "<set id>-<row>" and a retry's
# "-r<N>" still fit an execution id's 80 characters.
SET_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
SET_ID_PREFIX_LENGTH = 27
SET_ID_HASH_LENGTH = 12
# A row's own execution_id: room left for a retry's "-r<N>" (N up to 99).
MAX_ROW_ID_LENGTH = 76
# Lines reported for one run set; the rest are counted (a table of 100,000 bad rows must not
# print a million lines).
MAX_PROBLEMS_REPORTED = 1000

_PARAMETERS_KEYS = ("execution_parameters", "executionParameters")
_ID_KEYS = ("execution_id", "executionId")


def expand_run_set(template: Path, table: Path, *, set_id: str | None = None) -> RunSet:
    """The run set of ``template`` and ``table``; :class:`RunSetError` listing every problem."""
    template_data = _template(template)
    rows = read_table(table)
    if set_id is not None and not SET_ID_PATTERN.fullmatch(set_id):
        raise RunSetError(
            [
                "--set-id: must be 1–40 letters, digits, '-' or '_', starting with a letter or "
                f"digit, got {set_id!r}"
            ]
        )
    chosen = set_id or derived_set_id(template, template_data, rows)
    resolved = with_relative_files_resolved(template_data, template.parent.resolve())
    header = _column_problems(rows, resolved)
    if header:
        raise RunSetError(header)

    requests: dict[int, DemandExecution] = {}
    problems: dict[int, list[str]] = {}
    table_base = table.parent.resolve()
    for row in rows.rows:
        if row.problems:
            problems[row.number] = list(row.problems)
            continue
        try:
            data = _row_document(resolved, row, chosen)
            requests[row.number] = parse_spec(with_relative_files_resolved(data, table_base))
        except SpecError as exc:
            problems[row.number] = exc.problems
    lines = {row.number: row.line for row in rows.rows}
    shared = _shared_problems(problems, _alone(resolved, chosen), len(rows.rows))
    found = [f"{template}: {problem} (in every row)" for problem in shared]
    for number, clashes in _clashes(requests).items():
        problems.setdefault(number, []).extend(clashes)
    found += _row_lines(table, lines, problems)
    if found:
        raise RunSetError(_bounded(found))
    return RunSet(
        set_id=chosen,
        rows=[
            RunSetRow(number=number, request=request, line=lines[number])
            for number, request in sorted(requests.items())
        ],
        template=template,
        table=table,
    )


def check_rows(run_set: RunSet, check: Callable[[DemandExecution], object]) -> None:
    """Call ``check`` on every row's request (planning it, say); :class:`RunSetError` listing
    what it refused, by row."""
    problems: dict[int, list[str]] = {}
    for row in run_set.rows:
        try:
            check(row.request)
        except DocumentError as exc:
            problems[row.number] = exc.problems
        except PlanError as exc:
            problems[row.number] = [str(exc)]
    if problems:
        lines = {row.number: row.line for row in run_set.rows}
        shared = _shared_problems(problems, None, len(run_set.rows))
        found = [f"{run_set.table}: every row: {problem}" for problem in shared]
        raise RunSetError(_bounded(found + _row_lines(run_set.table, lines, problems)))


# --- the template and the ids ---------------------------------------------------------------


def _template(path: Path) -> dict[str, Any]:
    data = read_document(path, SpecError)
    if data is None:
        raise RunSetError([f"{path}: the template is empty (a request is an object of fields)"])
    if not isinstance(data, Mapping):
        raise RunSetError([f"{path}: expected a request at the top level, got {json_kind(data)}"])
    return dict(data)


def derived_set_id(path: Path, template: Mapping[str, Any], table: Table) -> str:
    """``<name>-<hash>``: the name from the template's execution_id (or its file's name), the
    hash of what the template and the table say (not how they are laid out)."""
    content = json.dumps(
        [template, [[row.kind, row.values] for row in table.rows]],
        sort_keys=True,
        separators=(",", ":"),
        default=str,  # YAML's dates
    )
    digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
    named = next((template[key] for key in _ID_KEYS if isinstance(template.get(key), str)), None)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", named or path.stem)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:SET_ID_PREFIX_LENGTH].rstrip("-_") or "set"
    return f"{name}-{digest[:SET_ID_HASH_LENGTH]}"


def _parameters_key(template: Mapping[str, Any]) -> str:
    return next((key for key in _PARAMETERS_KEYS if key in template), _PARAMETERS_KEYS[0])


def _template_params(template: Mapping[str, Any]) -> dict[str, Any]:
    parameters = template.get(_parameters_key(template))
    params = parameters.get("params") if isinstance(parameters, Mapping) else None
    return dict(params) if isinstance(params, Mapping) else {}


def _known_names(template: Mapping[str, Any]) -> set[str]:
    """The variables of the template's parameters and of every ``${NAME}`` it refers to."""
    parameters = template.get(_parameters_key(template))
    mentioned = json.dumps(parameters, default=str) if isinstance(parameters, Mapping) else ""
    names = set(_template_params(template)) | set(REFERENCE.findall(mentioned))
    return {env_name(name) for name in names}


def _column_problems(table: Table, template: Mapping[str, Any]) -> list[str]:
    """A column (or a parameter map's key) must name a parameter of the template or one it
    refers to: a misspelt column would otherwise become a parameter nobody reads."""
    known = _known_names(template)

    def unknown(names: Iterable[str]) -> list[str]:
        return [
            name for name in names if name != EXECUTION_ID_COLUMN and env_name(name) not in known
        ]

    listed = ", ".join(sorted(_template_params(template))) or "none"
    why = f"names no parameter of the template (its params: {listed}; nor a ${{NAME}} it uses)"
    if table.columns is not None:
        return [f"{table.path}:1: column {name!r} {why}" for name in unknown(table.columns)]
    return [
        f"{table.path}: row {row.number}: {name!r} {why}"
        for row in table.rows
        if row.kind == "params"
        for name in unknown(row.values)
    ]


def _laid_over(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base``: maps merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = _laid_over(below, value)
        else:
            merged[key] = value
    return merged


def _row_document(template: Mapping[str, Any], row: TableRow, set_id: str) -> dict[str, Any]:
    """The request document of one row: the template with the row's values."""
    values = dict(row.values)
    given = [values.pop(key) for key in _ID_KEYS if key in values]
    if row.kind == "params":
        key = _parameters_key(template)
        parameters = template.get(key)
        parameters = dict(parameters) if isinstance(parameters, Mapping) else {}
        parameters["params"] = _template_params(template) | values
        data = {**template, key: parameters}
    else:
        data = _laid_over(template, values)
    for key in _ID_KEYS:
        data.pop(key, None)
    data["execution_id"] = _row_id(given, row.number, set_id)
    return data


def _row_id(given: list[Any], number: int, set_id: str) -> str:
    if len(given) > 1:
        raise SpecError(["execution_id: given twice (as execution_id and executionId)"])
    if not given or given[0] in (None, ""):
        return f"{set_id}-{number}"
    (execution_id,) = given
    if not isinstance(execution_id, str):
        raise SpecError([f"execution_id: must be text, got {json_kind(execution_id)}"])
    if len(execution_id) > MAX_ROW_ID_LENGTH:
        raise SpecError(
            [
                f"execution_id: at most {MAX_ROW_ID_LENGTH} characters in a run set (a retry "
                f"adds '-r<N>'), got {len(execution_id)}"
            ]
        )
    return execution_id


# --- across rows ----------------------------------------------------------------------------


def _clashes(requests: Mapping[int, DemandExecution]) -> dict[int, list[str]]:
    """Rows sharing an execution id, and rows writing where another row writes."""
    clashes: dict[int, list[str]] = {}
    first: dict[str, int] = {}
    for number, request in sorted(requests.items()):
        earlier = first.setdefault(request.execution_id, number)
        if earlier != number:
            clashes.setdefault(number, []).append(
                f"execution_id: {request.execution_id!r} is row {earlier}'s too"
            )
    destinations = sorted(
        (
            (binding.remote.rstrip("/"), number, binding.name)
            for number, request in requests.items()
            for binding in output_bindings(request)
        ),
        # "/" before every other character: what is inside a destination sorts right after it
        # ("s3://b/x", "s3://b/x/y", then "s3://b/x-1").
        key=lambda place: (place[0].replace("/", "\x00"), place[1]),
    )
    # Sorted so, a stack of the destinations enclosing the current one finds every nesting
    # in one pass.
    enclosing: list[tuple[str, int]] = []
    for remote, number, name in destinations:
        while enclosing and not _within(remote, enclosing[-1][0]):
            enclosing.pop()
        outer = next((e for e in reversed(enclosing) if e[1] != number), None)
        if outer is None:
            enclosing.append((remote, number))
            continue
        relation = "as" if outer[0] == remote else f"inside {outer[0]}, where"
        clashes.setdefault(number, []).append(
            f"execution_parameters.params{field_part(name)}: uploads to {remote}, {relation} "
            f"row {outer[1]} uploads: give each row its own destination (e.g. "
            "'name @ s3://bucket/results/${sample}/name', with a column 'sample')"
        )
    return clashes


def _within(remote: str, destination: str) -> bool:
    return remote == destination or remote.startswith(destination + "/")


def _alone(template: Mapping[str, Any], set_id: str) -> set[str]:
    """The problems of the template with no row's values."""
    try:
        parse_spec(_row_document(template, TableRow(0, None, "params", {}), set_id))
    except SpecError as exc:
        return set(exc.problems)
    return set()


def _shared_problems(
    problems: dict[int, list[str]], of_template: set[str] | None, rows: int
) -> list[str]:
    """The problems every row has that are the template's (it has them without any row's
    values; ``None``: take every shared one as the template's): said once, and taken out of
    ``problems``."""
    if rows < 2 or len(problems) < rows:
        return []
    shared = set.intersection(*(set(found) for found in problems.values()))
    if of_template is not None:
        shared &= of_template
    for number, found in list(problems.items()):
        rest = [problem for problem in found if problem not in shared]
        if rest:
            problems[number] = rest
        else:
            del problems[number]
    return sorted(shared)


def _row_lines(
    table: Path, lines: Mapping[int, int | None], problems: Mapping[int, list[str]]
) -> list[str]:
    found = []
    for number in sorted(problems):
        line = lines.get(number)
        where = f"{table}:{line}" if line is not None else f"{table}"
        found += [f"{where}: row {number}: {problem}" for problem in problems[number]]
    return found


def _bounded(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS_REPORTED:
        return problems
    more = len(problems) - MAX_PROBLEMS_REPORTED
    return [*problems[:MAX_PROBLEMS_REPORTED], f"… and {more} more problems"]
