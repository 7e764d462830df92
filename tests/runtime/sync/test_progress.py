"""What a sync reports as it goes: bytes from the transfer itself, true totals, dry runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runtime.sync import download
from runtime.sync.api import sync
from runtime.sync.errors import IntegrityError
from runtime.sync.model import SyncRequest
from runtime.sync.progress import ProgressCounter
from runtime.sync.settings import MiB, S3Config
from tests.runtime.sync.conftest import Store, partials, read_tree

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class Reports(ProgressCounter):
    """Counts the byte reports too, not only their sum."""

    def __init__(self) -> None:
        super().__init__()
        self.reports = 0
        self._count_lock = threading.Lock()

    def on_progress(self, bytes: int) -> None:
        super().on_progress(bytes)
        with self._count_lock:
            self.reports += 1


def test_a_large_download_reports_its_bytes_piece_by_piece(
    server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    # The CRT's own reports come at most once a second per object (its Python binding batches
    # them): a fast 21 MiB download got one report at the end. The streamed body reports each
    # part it writes (5 MiB parts here).
    size = 21 * MiB
    server_client.put_object(Bucket=bucket, Key="big/blob", Body=b"x" * size)
    reports = Reports()
    result = sync(
        SyncRequest(source=f"s3://{bucket}/big/", destination=str(tmp_path / "d")),
        s3=crt_config,
        progress=reports,
    )
    assert (result.transferred, result.failed) == (1, 0)
    assert (reports.total_bytes, reports.bytes) == (size, size)
    assert reports.reports >= 5


def test_bytes_moved_again_by_a_retry_are_added_to_the_total(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A body that fails verification is downloaded again: its bytes move twice, and the
    # total grows by them, so the bar never passes 100 %.
    store.put("in/", {"blob": b"b" * 4096})
    verify = download.verify
    failures = iter([IntegrityError("in/blob: checksum mismatch (injected)")])

    def fail_once(*args: Any, **kwargs: Any) -> None:
        injected = next(failures, None)
        if injected is not None:
            raise injected
        verify(*args, **kwargs)

    monkeypatch.setattr(download, "verify", fail_once)
    reports = Reports()
    result = sync(
        SyncRequest(source=store.url("in/"), destination=str(tmp_path / "d")),
        s3=store.access,
        progress=reports,
    )
    assert (result.transferred, result.failed) == (1, 0)
    assert reports.bytes == 2 * 4096
    assert reports.total_bytes == reports.bytes


def test_a_dry_run_moves_and_deletes_nothing(store: Store, tmp_path: Path) -> None:
    store.put("in/", {"a.txt": b"a", "same.txt": b"same", "sub/b.txt": b"bb"})
    destination = tmp_path / "d"
    destination.mkdir()
    (destination / "same.txt").write_bytes(b"same")
    (destination / "extra.txt").write_bytes(b"x")
    before = read_tree(destination)
    seen = ProgressCounter()
    down = sync(
        SyncRequest(source=store.url("in/"), destination=str(destination), delete=True),
        s3=store.access,
        progress=seen,
        dry_run=True,
    )
    assert (down.transferred, down.skipped, down.deleted, down.bytes) == (2, 1, 1, 3)
    assert seen.outcomes == {
        "a.txt": "transferred",
        "sub/b.txt": "transferred",
        "same.txt": "skipped",
        "extra.txt": "deleted",
    }
    assert read_tree(destination) == before
    assert partials(tmp_path) == []

    up = sync(
        SyncRequest(source=str(destination), destination=store.url("in/"), delete=True),
        s3=store.access,
        dry_run=True,
    )
    assert (up.transferred, up.skipped, up.deleted) == (1, 1, 2)
    assert set(store.tree("in/")) == {"a.txt", "same.txt", "sub/b.txt"}
