"""Reuse records in SQLite, for real: conditional writes, concurrent writers, hostile rows."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from runtime.reuse.key import ObjectIdentity
from runtime.reuse.records import RecordedOutput, ReuseRecord, new_record
from runtime.reuse.sqlite_records import SqliteRecords

KEY = "v1-" + "0" * 64


def record(execution_id: str, key: str = KEY) -> ReuseRecord:
    output = RecordedOutput(
        name="result",
        location="s3://outputs/result.txt",
        single=True,
        objects=(ObjectIdentity(relpath="", size=2, etag=f"etag-{execution_id}"),),
    )
    return new_record(key, execution_id, (output,), ttl_days=1)


def test_a_record_is_read_back_as_written(tmp_path: Path) -> None:
    store = SqliteRecords(tmp_path / "reuse.sqlite")
    assert store.get(KEY) is None
    written = record("first")

    assert store.put(written, replacing=None)

    stored = store.get(KEY)
    assert stored is not None
    assert stored.record == written
    assert stored.token is not None


def test_a_write_replaces_only_what_the_writer_saw(tmp_path: Path) -> None:
    store = SqliteRecords(tmp_path / "reuse.sqlite")
    assert store.put(record("first"), replacing=None)
    seen = store.get(KEY)
    assert not store.put(record("second"), replacing=None)  # one is there already
    assert store.put(record("third"), replacing=seen)
    assert not store.put(record("fourth"), replacing=seen)  # "third" is there now

    stored = store.get(KEY)
    assert stored is not None
    assert stored.record is not None
    assert stored.record.execution_id == "third"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"key": "v1-' + "0" * 64 + '"}',
        record("other", key="v1-" + "1" * 64).model_dump_json(),  # another key's record
        record("x").model_dump_json().replace("s3://", "http://"),
        record("x").model_dump_json().replace('Z"', '"'),  # a naive time
        record("x").model_dump_json().replace('"x"', '"../../x"'),
    ],
)
def test_a_row_that_is_not_a_record_of_its_key_reads_as_none(tmp_path: Path, body: str) -> None:
    path = tmp_path / "reuse.sqlite"
    store = SqliteRecords(path)
    store.put(record("first"), replacing=None)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE records SET body = ?, token = X'07'", (body,))

    stored = store.get(KEY)

    assert stored is not None
    assert stored.record is None
    assert stored.token is None
    # ... and the writer that saw it corrupt may replace it
    assert store.put(record("second"), replacing=stored)
    again = store.get(KEY)
    assert again is not None
    assert again.record is not None


def _write(path: str, execution_id: str, start: object) -> bool:
    start.wait()  # type: ignore[attr-defined]
    return SqliteRecords(Path(path)).put(record(execution_id), replacing=None)


def test_concurrent_writers_of_one_key_write_one_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "reuse.sqlite"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(6) as pool:
            pending = [pool.apply_async(_write, (str(path), f"run-{n}", start)) for n in range(12)]
            start.set()
            written = [result.get(timeout=300) for result in pending]

    assert written.count(True) == 1
    stored = SqliteRecords(path).get(KEY)
    assert stored is not None
    assert stored.record is not None
    assert stored.record.execution_id == f"run-{written.index(True)}"
