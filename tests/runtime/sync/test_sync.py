"""What a user of ``aws s3 sync`` expects, on both backends: both directions, single objects,
filters, comparison modes, delete, re-runs, locations that cannot work, and the cursor."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runtime.sync import download, engine
from runtime.sync.api import sync
from runtime.sync.errors import (
    IntegrityError,
    InvalidCursorError,
    SyncFailed,
    SyncLocationError,
)
from runtime.sync.listing import Entry
from runtime.sync.localfs import Partials
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.progress import ProgressCounter
from runtime.sync.upload import Upload
from tests.runtime.sync.conftest import Store, partials, read_tree

if TYPE_CHECKING:
    from runtime.sync.api import S3Access

FILES = {
    "a.txt": b"alpha",
    "b/c.csv": b"1,2,3\n" * 100,
    "b/d/e.bin": bytes(range(256)) * 40,
    "b-x.txt": b"sorts between b and b/",
    "empty": b"",
    "unicode é ü.txt": "ünïcödé".encode(),
    "plus+and space.txt": b"+",
}


def request(source: str, destination: str, **options: Any) -> SyncRequest:
    return SyncRequest(source=source, destination=destination, **options)


def test_download_prefix_then_nothing_to_do(store: Store, tmp_path: Path) -> None:
    store.put("in/", FILES)
    progress = ProgressCounter()
    first = sync(
        request(store.url("in/"), str(tmp_path / "out")), s3=store.access, progress=progress
    )
    assert (first.transferred, first.skipped, first.failed) == (len(FILES), 0, 0)
    assert first.bytes == sum(map(len, FILES.values())) == progress.total_bytes == progress.bytes
    assert read_tree(tmp_path / "out") == FILES
    again = sync(request(store.url("in"), str(tmp_path / "out")), s3=store.access)
    assert (again.transferred, again.skipped) == (0, len(FILES))


def test_upload_directory_then_nothing_to_do(store: Store, tmp_path: Path) -> None:
    for relpath, body in FILES.items():
        (tmp_path / "src" / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / relpath).write_bytes(body)
    result = sync(request(str(tmp_path / "src"), store.url("up")), s3=store.access)
    assert (result.transferred, result.failed) == (len(FILES), 0)
    assert store.tree("up/") == FILES
    again = sync(request(f"file://{tmp_path}/src/", store.url("up/")), s3=store.access)
    assert (again.transferred, again.skipped) == (0, len(FILES))


def test_single_objects_both_ways(store: Store, tmp_path: Path) -> None:
    store.put("", {"dir/one.txt": b"one"})
    sync(request(store.url("dir/one.txt"), f"{tmp_path}/"), s3=store.access)
    assert (tmp_path / "one.txt").read_bytes() == b"one"
    sync(request(store.url("dir/one.txt"), str(tmp_path / "renamed.txt")), s3=store.access)
    assert (tmp_path / "renamed.txt").read_bytes() == b"one"
    sync(request(str(tmp_path / "renamed.txt"), store.url("other/")), s3=store.access)
    sync(request(str(tmp_path / "renamed.txt"), store.url("exact.txt")), s3=store.access)
    assert store.tree("other/") == {"renamed.txt": b"one"}
    assert store.tree("exact") == {".txt": b"one"}


FILTERS = (("exclude", "*"), ("include", "*.csv"), ("include", "*.txt"), ("exclude", "b-*"))


def test_filters(store: Store, tmp_path: Path) -> None:
    store.put("in/", FILES)
    result = sync(
        request(store.url("in/"), str(tmp_path), filters=FILTERS),
        s3=store.access,
    )
    assert set(read_tree(tmp_path)) == {"a.txt", "b/c.csv", "unicode é ü.txt", "plus+and space.txt"}
    assert result.transferred == 4


def test_full_comparison_sees_same_size_changes(store: Store, tmp_path: Path) -> None:
    store.put("in/", {"f": b"version-1"})
    sync(request(store.url("in/"), str(tmp_path)), s3=store.access)
    store.put("in/", {"f": b"version-2"})  # same size, different content
    size_only = sync(request(store.url("in/"), str(tmp_path), size_only=True), s3=store.access)
    assert (size_only.transferred, (tmp_path / "f").read_bytes()) == (0, b"version-1")
    full = sync(request(store.url("in/"), str(tmp_path)), s3=store.access)
    assert (full.transferred, (tmp_path / "f").read_bytes()) == (1, b"version-2")
    forced = sync(request(store.url("in/"), str(tmp_path), force=True), s3=store.access)
    assert forced.transferred == 1


def test_delete_removes_only_unselected_extras(store: Store, tmp_path: Path) -> None:
    store.put("in/", {"keep.txt": b"k"})
    for name in ("extra.txt", "sub/extra.log", "excluded.tmp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    plain = sync(request(store.url("in/"), str(tmp_path)), s3=store.access)
    assert plain.deleted == 0
    mirrored = sync(
        request(store.url("in/"), str(tmp_path), delete=True, filters=(("exclude", "*.tmp"),)),
        s3=store.access,
    )
    assert mirrored.deleted == 2
    assert set(read_tree(tmp_path)) == {"keep.txt", "excluded.tmp"}


def test_delete_on_s3(store: Store, tmp_path: Path) -> None:
    store.put("out/", {"old.txt": b"o", "same.txt": b"s"})
    (tmp_path / "same.txt").write_bytes(b"s")
    result = sync(request(str(tmp_path), store.url("out/"), delete=True), s3=store.access)
    assert (result.deleted, result.skipped) == (1, 1)
    assert store.tree("out/") == {"same.txt": b"s"}


def test_cursor_resumes_where_the_deadline_stopped(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"f{i:02d}": bytes([i]) * 100 for i in range(30)}
    store.put("in/", files)
    # A clock that passes the point where the walk stops (5 s before the deadline) after a
    # dozen readings, and stays there: transfers in flight finish, none start.
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(engine, "clock", lambda: 0.0 if next(ticks) < 12 else 46.0)
    sync_request = request(store.url("in/"), str(tmp_path))
    first = sync(sync_request, s3=store.access, deadline=50.0)
    assert not first.done
    assert first.cursor is not None
    assert 0 < len(read_tree(tmp_path)) < 30
    monkeypatch.setattr(engine, "clock", lambda: 0.0)
    second = sync(sync_request, s3=store.access, deadline=50.0, cursor=first.cursor)
    assert second.done
    assert second.cursor is None
    assert read_tree(tmp_path) == files
    # Everything was transferred exactly once over the two calls.
    assert first.transferred + second.transferred == 30
    with pytest.raises(InvalidCursorError):
        sync(request(store.url("in/"), str(tmp_path / "x")), s3=store.access, cursor=first.cursor)


def test_locations_that_cannot_work(store: Store, tmp_path: Path) -> None:
    with pytest.raises(SyncLocationError, match="no object"):
        sync(request(store.url("missing/"), str(tmp_path)), s3=store.access)
    with pytest.raises(SyncLocationError):
        sync(request("s3://no-such-bucket-here/x/", str(tmp_path)), s3=store.access)
    with pytest.raises(SyncLocationError, match="does not exist"):
        sync(request(str(tmp_path / "nope"), store.url("x/")), s3=store.access)
    with pytest.raises(SyncLocationError, match="two S3"):
        sync(request(store.url("a/"), store.url("b/")), s3=store.access)


def test_unsafe_keys_are_refused_and_named(store: Store, tmp_path: Path) -> None:
    store.put("in/", {"ok.txt": b"ok", "../escape.txt": b"no", "a/./b": b"no"})
    result = sync(request(store.url("in/"), str(tmp_path / "out")), s3=store.access)
    assert (result.transferred, result.failed) == (1, 2)
    assert any("../escape.txt" in line for line in result.errors)
    assert not (tmp_path / "escape.txt").exists()
    assert partials(tmp_path) == []


def test_local_to_local(tmp_path: Path) -> None:
    (tmp_path / "src" / "d").mkdir(parents=True)
    (tmp_path / "src" / "d" / "f").write_bytes(b"data")
    result = sync(request(f"file://{tmp_path}/src", str(tmp_path / "dst")))
    assert result.transferred == 1
    assert read_tree(tmp_path / "dst") == {"d/f": b"data"}
    assert sync(request(str(tmp_path / "src"), str(tmp_path / "dst"))).skipped == 1
    with pytest.raises(SyncLocationError, match="overlap"):
        sync(request(str(tmp_path / "src"), str(tmp_path / "src" / "d")))


def test_orphaned_partials_of_a_single_file_are_removed(store: Store, tmp_path: Path) -> None:
    store.put("", {"one.txt": b"one"})
    dead = subprocess.Popen(["true"])  # a process id that no longer runs
    dead.wait()
    own, fd = Partials(tmp_path / "one.txt", single=True).create()
    os.close(fd)
    os.unlink(own)
    orphan = Path(own.replace(f"-{os.getpid()}-", f"-{dead.pid}-"))
    orphan.write_bytes(b"half")
    assert partials(tmp_path) == [orphan]
    sync(request(store.url("one.txt"), str(tmp_path / "one.txt")), s3=store.access)
    assert (tmp_path / "one.txt").read_bytes() == b"one"
    assert partials(tmp_path) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["one.txt"]  # nor its directory


def _sync_within(seconds: float, req: SyncRequest, s3: S3Access) -> SyncResult:
    """Run a sync on a thread; a hang fails the test instead of stalling the run."""
    results: list[SyncResult] = []
    worker = threading.Thread(target=lambda: results.append(sync(req, s3=s3)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert results, f"the sync did not finish within {seconds} s"
    return results[0]


def test_partial_directories_of_long_multibyte_names_fit(tmp_path: Path) -> None:
    name = "\U0001f600" * 62 + ".c"  # 250 bytes in UTF-8: a valid name on Linux
    for single in (True, False):
        partial, fd = Partials(tmp_path / name, single=single).create()
        os.close(fd)
        directory = Path(partial).parent
        assert len(os.fsencode(directory.name)) <= 255
        assert directory.name.startswith(".\U0001f600")
        assert directory.parent == tmp_path


def test_a_long_multibyte_key_is_transferred(store: Store, tmp_path: Path) -> None:
    name = "\U0001f600" * 62 + ".c"
    store.put("in/", {name: b"x"})
    result = _sync_within(20, request(store.url("in/"), str(tmp_path / "d")), store.access)
    assert (result.transferred, result.failed) == (1, 0)
    assert read_tree(tmp_path / "d") == {name: b"x"}


def test_an_error_while_finishing_a_download_counts_as_failed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put("in/", {"a.txt": b"alpha", "b.txt": b"beta"})

    def refuse(path: str, src: Entry, subject: str, *, checksum_validated: bool) -> None:
        raise IntegrityError(f"{subject}: refused")

    def broken_discard(path: str) -> None:
        raise RuntimeError("cannot discard")

    monkeypatch.setattr(download, "verify", refuse)
    monkeypatch.setattr(download, "_discard", broken_discard)
    monkeypatch.setattr(engine, "ATTEMPTS", 1)
    result = _sync_within(20, request(store.url("in/"), str(tmp_path / "d")), store.access)
    assert (result.transferred, result.failed) == (0, 2)
    assert not (tmp_path / "d" / "a.txt").exists()


def test_a_refused_delete_request_fails_the_whole_batch(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put("out/", {f"old{i}": b"o" for i in range(5)})
    (tmp_path / "keep").write_bytes(b"k")

    def refuse(self: Upload, relpaths: Sequence[str]) -> list[str]:
        raise SyncFailed(f"s3://{store.bucket}: AccessDenied")

    monkeypatch.setattr(Upload, "delete", refuse)
    result = sync(request(str(tmp_path), store.url("out/"), delete=True), s3=store.access)
    assert (result.transferred, result.deleted, result.failed) == (1, 0, 5)
    assert result.errors == [f"s3://{store.bucket}: AccessDenied"]
    assert set(store.tree("out/")) == {"keep", *(f"old{i}" for i in range(5))}
