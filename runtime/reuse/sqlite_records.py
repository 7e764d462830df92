"""Reuse records in SQLite, in the local root (``<root>/reuse.sqlite``).

WAL, so readers never wait for a writer; each write is one ``BEGIN IMMEDIATE`` transaction
that checks the version token it replaces, so two runs of one key finishing at once write one
record each in turn, and the second finds the first's token and does not overwrite it. A file
that is not a database, or a row that is not a record, is a miss.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from runtime.reuse.records import ReuseRecord, Stored, parsed_record

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records ("
    "reuse_key TEXT PRIMARY KEY, token TEXT, body TEXT, execution_id TEXT)"
)
BUSY_TIMEOUT_SECONDS = 30.0


class SqliteRecords:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        with closing(connection):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(SCHEMA)
            yield connection

    def get(self, key: str) -> Stored | None:
        try:
            with self._connection() as connection:
                row = connection.execute(
                    "SELECT token, body FROM records WHERE reuse_key = ?", (key,)
                ).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        token, body = row
        return Stored(
            record=parsed_record(body, key), token=token if isinstance(token, str) else None
        )

    def put(self, record: ReuseRecord, *, replacing: Stored | None) -> bool:
        try:
            with self._connection() as connection:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    row = connection.execute(
                        "SELECT token FROM records WHERE reuse_key = ?", (record.key,)
                    ).fetchone()
                    if not _still(row, replacing):
                        connection.execute("ROLLBACK")
                        return False
                    connection.execute(
                        "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)",
                        (
                            record.key,
                            uuid.uuid4().hex,
                            record.model_dump_json(),
                            record.execution_id,
                        ),
                    )
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
        except sqlite3.Error:
            return False
        return True


def _still(row: tuple[object, ...] | None, replacing: Stored | None) -> bool:
    """Whether the row holds what the writer saw: nothing, the token it read, or (a corrupt
    row it could not read a token from) still no usable token."""
    if replacing is None:
        return row is None
    if row is None:
        return False
    token = row[0] if isinstance(row[0], str) else None
    return token == replacing.token
