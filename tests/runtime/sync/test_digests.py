"""The record of verified files: a re-sync reads no file that is the very one verified, and
reads (and re-syncs) every file that may have changed — rewritten, touched back, replaced."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from runtime.sync import digests, download, upload
from runtime.sync.api import sync
from runtime.sync.model import SyncRequest
from tests.runtime.sync.conftest import Store, read_tree

FILES = {"a.txt": b"alpha", "b/c.csv": b"1,2,3\n" * 100, "b/d/e.bin": bytes(range(256)) * 40}


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache" / "sync-digests.sqlite"
    monkeypatch.setenv(digests.VARIABLE, str(path))
    # A test's files are milliseconds old: taken as settled, so the placement path is tested.
    monkeypatch.setattr(digests, "SETTLED_NS", 0)
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose content a sync read to compare with an ETag."""
    seen: list[str] = []

    def counting(original: Any) -> Any:
        def check(path: Any, entry: Any) -> bool:
            seen.append(os.path.basename(str(path)))
            return bool(original(path, entry))

        return check

    for mover in (download, upload):
        monkeypatch.setattr(mover, "file_matches_etag", counting(mover.file_matches_etag))
    return seen


def down(store: Store, target: Path) -> tuple[int, int]:
    result = sync(SyncRequest(source=store.url("in/"), destination=str(target)), s3=store.access)
    assert result.failed == 0, result.errors
    return result.transferred, result.skipped


def test_a_downloaded_tree_is_not_read_again(
    store: Store, tmp_path: Path, record: Path, reads: list[str]
) -> None:
    store.put("in/", FILES)
    target = tmp_path / "out"
    assert down(store, target) == (3, 0)
    assert down(store, target) == (0, 3)
    assert reads == []  # every file placed by the first sync is vouched for
    assert read_tree(target) == FILES
    assert record.stat().st_mode & 0o777 == 0o600


def test_a_changed_file_is_read_and_synced_again_whatever_its_times_say(
    store: Store, tmp_path: Path, record: Path, reads: list[str]
) -> None:
    store.put("in/", FILES)
    target = tmp_path / "out"
    down(store, target)
    rewritten, replaced = target / "a.txt", target / "b" / "c.csv"
    before = rewritten.stat()
    rewritten.chmod(0o644)
    rewritten.write_bytes(b"ALPHA")  # same size, then its mtime put back
    os.utime(rewritten, ns=(before.st_atime_ns, before.st_mtime_ns))
    old = replaced.stat()
    replaced.unlink()
    replaced.write_bytes(b"9,9,9\n" * 100)
    os.utime(replaced, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert down(store, target) == (2, 1)
    assert sorted(reads) == ["a.txt", "c.csv"]
    assert read_tree(target) == FILES


def test_an_uploaded_tree_is_read_once_more_then_no_more(
    store: Store, tmp_path: Path, record: Path, reads: list[str]
) -> None:
    source = tmp_path / "src"
    for relpath, body in FILES.items():
        (source / relpath).parent.mkdir(parents=True, exist_ok=True)
        (source / relpath).write_bytes(body)
    request = SyncRequest(source=str(source), destination=store.url("up/"))
    assert sync(request, s3=store.access).transferred == 3
    # The upload's own ETag is not known here: the next sync checks each file, and records it.
    assert sync(request, s3=store.access).skipped == 3
    assert len(reads) == 3
    assert sync(request, s3=store.access).skipped == 3
    assert len(reads) == 3
    (source / "a.txt").write_bytes(b"ALPHA")
    assert sync(request, s3=store.access).transferred == 1
    assert store.tree("up/")["a.txt"] == b"ALPHA"


def test_a_file_changed_within_its_own_tick_is_not_recorded(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str]
) -> None:
    # File times tick coarsely: a file checked less than SETTLED_NS after its last change
    # could change again without its ctime moving, so it is not vouched for.
    monkeypatch.setenv(digests.VARIABLE, str(tmp_path / "record.sqlite"))
    monkeypatch.setattr(digests, "SETTLED_NS", 10**18)
    store.put("in/", FILES)
    target = tmp_path / "out"
    down(store, target)
    down(store, target)
    down(store, target)
    assert len(reads) == 6  # read by each re-sync


def test_off_keeps_no_record_and_a_broken_one_is_a_miss(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str]
) -> None:
    store.put("in/", FILES)
    monkeypatch.setenv(digests.VARIABLE, "off")
    down(store, tmp_path / "one")
    assert down(store, tmp_path / "one") == (0, 3)
    assert len(reads) == 3
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"not a database" * 100)
    monkeypatch.setenv(digests.VARIABLE, str(broken))
    assert down(store, tmp_path / "two") == (3, 0)
    assert down(store, tmp_path / "two") == (0, 3)
    assert broken.read_bytes() == b"not a database" * 100


def test_a_record_row_that_lies_about_nothing_else_still_needs_the_same_etag(
    store: Store, tmp_path: Path, record: Path, reads: list[str]
) -> None:
    store.put("in/", FILES)
    target = tmp_path / "out"
    down(store, target)
    store.put("in/", {"a.txt": b"omega"})  # same size, new ETag at the source
    assert down(store, target) == (1, 2)
    assert read_tree(target)["a.txt"] == b"omega"
    with sqlite3.connect(record) as connection:
        (count,) = connection.execute("SELECT count(*) FROM verified").fetchone()
    assert count >= 3
