"""What a local run set keeps about itself: ``<root>/sets/<set id>.json``.

Each row's execution id, a fingerprint of its request, and how its latest run in this set
ended. ``demand run TEMPLATE --table ROWS`` writes it when it starts and when it ends; the same
set run again (the same template and table: the same set id) finds in it the rows that already
succeeded with the same request, and does not run them again. ``demand report SET`` reads it
to find the rows' own records (``<root>/runs/<execution id>.json``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from runtime.errors import DemandError
from runtime.exit_codes import Failure
from runtime.spec import DemandExecution

# SKIPPED: it succeeded in an earlier run of this set, with the same request, and was not run
# again. NOT_STARTED: the set was stopped before it came to the row.
RowState = Literal["SUCCEEDED", "FAILED", "SKIPPED", "NOT_STARTED", "RUNNING"]
# States of a row that has no run record of its own from this set.
RUNLESS_STATES = frozenset({"NOT_STARTED", "RUNNING"})
MAX_SET_RECORD_BYTES = 256 * 2**20


class SetRecordError(DemandError):
    """A set record that cannot be read."""


class RowOutcome(BaseModel):
    """One row of a run set: what ``demand run --table`` prints for it (``--json``: as is)."""

    row: int
    execution_id: str
    state: RowState = "NOT_STARTED"
    exit_code: int | None = None
    failure: Failure | None = None
    failed_step: str | None = None
    error: str | None = None
    seconds: float | None = None
    log_file: str | None = None
    # sha256 of the row's request: a row is skipped on a re-run only if it asks the same.
    request_digest: str = ""


class SetRecord(BaseModel):
    set_id: str
    template: str
    table: str
    started_at: datetime
    ended_at: datetime | None = None
    rows: list[RowOutcome]


def request_digest(request: DemandExecution) -> str:
    text = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def set_record_path(sets: Path, set_id: str) -> Path:
    return sets / f"{set_id}.json"


def read_set_record(sets: Path, set_id: str) -> SetRecord | None:
    """The set's record, or None when this root has none."""
    if not set_id or "/" in set_id or set_id.startswith("."):
        raise SetRecordError(f"{set_id!r} is not a set id")
    path = set_record_path(sets, set_id)
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_SET_RECORD_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SetRecordError(f"{path}: {exc.strerror or exc}") from None
    try:
        return SetRecord.model_validate_json(text)
    except ValidationError as exc:
        raise SetRecordError(
            f"{path}: not a run set's record ({exc.error_count()} problems)"
        ) from None


def write_set_record(sets: Path, record: SetRecord) -> Path:
    """Replace the set's record whole (a reader never sees half of one)."""
    path = set_record_path(sets, record.set_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(record.model_dump_json(indent=1), encoding="utf-8")
    partial.replace(path)
    return path
