"""Reading a run set's table: CSV or TSV with a header, or a YAML / JSON list of maps.

A table is untrusted input like a request, so reading it is bounded: at most
:data:`MAX_TABLE_BYTES`, at most :data:`MAX_ROWS` rows, UTF-8 only, cells of at most
:data:`MAX_CELL_CHARACTERS`; a YAML / JSON list is read by :func:`runtime.documents.read_document`
(nesting, aliases, duplicate keys bounded there). Whatever breaks a rule is one line naming the
table and, where it can, the line and the row.

- CSV (``.csv``) / TSV (``.tsv``, ``.tab``): the first line names the columns — parameter
  names, and optionally ``execution_id``; each further non-blank line is a row of text values.
  An empty cell is the empty string (leave the column out to keep the template's value).
- YAML / JSON (``.yaml``, ``.yml``, ``.json``): a list; each item is a map of parameter values
  (any JSON value, and optionally ``execution_id``), or a whole request (a map with request
  fields such as ``execution_parameters``), laid over the template.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_camel

from runtime.documents import read_document
from runtime.runsets.models import RowKind, RunSetError, Table, TableRow
from runtime.spec import DemandExecution, json_kind

# Far more than any sweep needs, few enough that every row's request fits in memory at once
# (about 2 KiB each as a model: 200 MiB at the limit) and a manifest stays a few hundred MiB.
MAX_ROWS = 100_000
MAX_TABLE_BYTES = 64 * 1024 * 1024
# One cell: as large as a whole request may be in a state's input (Step Functions' 256 KiB).
MAX_CELL_CHARACTERS = 256 * 1024
# The column that names a row's execution id instead of the derived <set id>-<row>.
EXECUTION_ID_COLUMN = "execution_id"

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")
# The top-level fields of a request: a map holding one of them is a whole request.
REQUEST_FIELDS = frozenset(
    spelling
    for name in DemandExecution.model_fields
    if name != "execution_id"
    for spelling in (name, to_camel(name))
)


def read_table(path: Path) -> Table:
    """The rows of the table at ``path``; :class:`RunSetError` if it cannot be read."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_delimited(path, CSV_SUFFIXES[suffix])
    if suffix in DOCUMENT_SUFFIXES:
        return _read_list(path)
    known = ", ".join([*CSV_SUFFIXES, *DOCUMENT_SUFFIXES])
    raise RunSetError([f"{path}: not a table this reads (by its name's ending: {known})"])


def _text(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_TABLE_BYTES + 1)
    except OSError as exc:
        raise RunSetError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_TABLE_BYTES:
        limit = MAX_TABLE_BYTES // (1024 * 1024)
        raise RunSetError([f"{path}: larger than {limit} MiB, more than a run set takes"])
    try:
        return raw.decode("utf-8-sig")  # a spreadsheet's byte order mark is not a column name
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})"
        raise RunSetError([f"{path}:{line}: {message}"]) from None


def _records(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on; blank lines skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    ended = 0  # the line the previous record ended on
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RunSetError([f"{path}:{ended + 1}: not valid CSV: {exc}"]) from None
        start, ended = ended + 1, reader.line_num
        if record and any(cell.strip() for cell in record):
            yield start, record


def _read_delimited(path: Path, delimiter: str) -> Table:
    text = _text(path)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RunSetError([f"{path}:{line}: contains a NUL character"])
    # Cells are bounded by the table's size already; the csv module's own limit (128 KiB) would
    # refuse a long value with a message naming no row.
    csv.field_size_limit(MAX_TABLE_BYTES)
    records = _records(path, text, delimiter)
    first = next(records, None)
    if first is None:
        raise RunSetError([f"{path}: the table is empty (a header line, then one line per row)"])
    header_line, columns = first
    columns = [name.strip() for name in columns]
    problems = _header_problems(path, header_line, columns)
    if problems:
        raise RunSetError(problems)
    rows: list[TableRow] = []
    for line, record in records:
        number = len(rows) + 1
        if number > MAX_ROWS:
            message = f"more than {MAX_ROWS} rows, more than a run set takes"
            raise RunSetError([f"{path}:{line}: {message}"])
        found = []
        if len(record) != len(columns):
            found.append(f"{len(record)} values for {len(columns)} columns")
        cells = dict(zip(columns, record, strict=False))
        found += [
            f"{name}: longer than {MAX_CELL_CHARACTERS} characters"
            for name, cell in cells.items()
            if len(cell) > MAX_CELL_CHARACTERS
        ]
        rows.append(TableRow(number, line, "params", cells, tuple(found)))
    if not rows:
        raise RunSetError([f"{path}: the table has a header and no rows"])
    return Table(path=path, rows=rows, columns=columns)


def _header_problems(path: Path, line: int, columns: list[str]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for index, name in enumerate(columns, start=1):
        if not name:
            problems.append(f"{path}:{line}: column {index} has no name")
        elif name in seen:
            problems.append(f"{path}:{line}: column {name!r} is named twice")
        seen.add(name)
    return problems


def _read_list(path: Path) -> Table:
    data = read_document(
        path, RunSetError, max_bytes=MAX_TABLE_BYTES, too_large="more than a run set takes"
    )
    if data is None:
        raise RunSetError([f"{path}: the table is empty (a list of rows)"])
    if not isinstance(data, list):
        raise RunSetError([f"{path}: expected a list of rows, got {_kind(data)}"])
    if not data:
        raise RunSetError([f"{path}: the table has no rows"])
    if len(data) > MAX_ROWS:
        raise RunSetError([f"{path}: {len(data)} rows, more than a run set takes ({MAX_ROWS})"])
    rows: list[TableRow] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, Mapping):
            problem = f"expected a map of parameters or a request, got {_kind(item)}"
            rows.append(TableRow(number, None, "params", {}, (problem,)))
            continue
        values: dict[str, Any] = {str(key): value for key, value in item.items()}
        kind: RowKind = "request" if REQUEST_FIELDS & set(values) else "params"
        rows.append(TableRow(number, None, kind, values))
    return Table(path=path, rows=rows)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a map"
    return json_kind(value)
