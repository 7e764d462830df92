"""What a run set is made of: its rows as read from the table, and the requests they become."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from runtime.errors import SpecError
from runtime.spec import DemandExecution

# What a row of a table holds: parameter values (a CSV / TSV line, or a map in a YAML / JSON
# list), or a whole request (a map with request fields) laid over the template.
RowKind = Literal["params", "request"]


class RunSetError(SpecError):
    """The template, the table or some of its rows are invalid: one line per problem, each
    naming its row; nothing is started."""


@dataclass(frozen=True)
class TableRow:
    """One row as read: its number (1-based, the header not counted), where it starts in the
    table file when the format knows (CSV / TSV), and its values."""

    number: int
    line: int | None
    kind: RowKind
    values: dict[str, Any]
    # What is wrong with the row as read (a CSV line of the wrong length): it is not expanded.
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    path: Path
    rows: list[TableRow]
    # The header of a CSV / TSV table (None for a YAML / JSON list).
    columns: list[str] | None = None


@dataclass(frozen=True)
class RunSetRow:
    number: int
    request: DemandExecution
    # Where the row starts in its table (CSV / TSV), for messages about it.
    line: int | None = None

    @property
    def execution_id(self) -> str:
        return self.request.execution_id


@dataclass(frozen=True)
class RunSet:
    """The requests of one template and one table, every one valid, their ids unique."""

    set_id: str
    rows: list[RunSetRow]
    template: Path
    table: Path

    def __len__(self) -> int:
        return len(self.rows)
