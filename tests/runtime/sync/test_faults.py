"""Fault injection against the CRT path: throttling, corruption, a changing source, a killed
sync, and multipart uploads — on a moto server behind a fault-injecting front."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runtime.sync.api import sync
from runtime.sync.backend import BytesCallback, Cancellable, DoneCallback
from runtime.sync.crt_client import crt_backend
from runtime.sync.listing import Entry
from runtime.sync.model import SyncRequest
from runtime.sync.settings import S3Config
from tests.runtime.sync.conftest import partials, read_tree, s3_tree
from tests.runtime.sync.faults import Faults

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 2**20


def bodies(count: int, size: int = 4096) -> dict[str, bytes]:
    return {
        f"f{i:03d}.bin": hashlib.sha256(str(i).encode()).digest() * (size // 32)
        for i in range(count)
    }


def put(client: S3Client, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        client.put_object(Bucket=bucket, Key=prefix + name, Body=body)


def test_throttling_is_retried_until_the_sync_completes(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    files = bodies(12)
    put(server_client, bucket, "in/", files)
    faults.throttle_pattern = "/in/"  # object reads
    faults.throttle_first = 2
    result = sync(
        SyncRequest(source=f"s3://{bucket}/in/", destination=str(tmp_path)), s3=crt_config
    )
    assert (result.transferred, result.failed) == (12, 0)
    assert read_tree(tmp_path) == files
    assert sum(faults.throttled.values()) == 24  # every object was refused twice first

    faults.throttle_pattern = "up/"  # uploads, and the listing of the destination
    faults.throttled.clear()
    uploaded = sync(
        SyncRequest(source=str(tmp_path), destination=f"s3://{bucket}/up/"), s3=crt_config
    )
    assert (uploaded.transferred, uploaded.failed) == (12, 0)
    assert s3_tree(server_client, bucket, "up/") == files
    assert sum(faults.throttled.values()) >= 24


def test_a_corrupted_body_is_never_placed(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    files = bodies(5)
    put(server_client, bucket, "in/", files)
    faults.corrupt_pattern = "f002"
    result = sync(
        SyncRequest(source=f"s3://{bucket}/in/", destination=str(tmp_path)), s3=crt_config
    )
    assert (result.transferred, result.failed) == (4, 1)
    assert result.retryable  # a corrupted transfer may pass on a later try
    [error] = result.errors
    assert f"s3://{bucket}/in/f002.bin" in error
    assert "checksum mismatch" in error
    assert not (tmp_path / "f002.bin").exists()
    assert partials(tmp_path) == []
    assert faults.reads[f"{bucket}/in/f002.bin"] == 3  # tried three times, never accepted
    del files["f002.bin"]
    assert read_tree(tmp_path) == files


class ChangingSource:
    """A backend whose listed objects are rewritten right after the listing: the reads that
    follow must not mix the old listing with new bodies."""

    def __init__(self, config: S3Config, client: S3Client, bucket: str) -> None:
        self.inner = crt_backend(config)
        self.client = client
        self.bucket = bucket

    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[Entry]:
        entries = list(self.inner.list_objects(bucket, prefix, start_after))
        for entry in entries:
            self.client.put_object(Bucket=bucket, Key=entry.relpath, Body=b"rewritten!")
        yield from entries

    def head_object(self, bucket: str, key: str) -> Entry | None:
        return self.inner.head_object(bucket, key)

    def first_part_size(self, bucket: str, key: str, parts: int) -> int | None:
        return self.inner.first_part_size(bucket, key, parts)

    def download(
        self, bucket: str, obj: Entry, path: str, on_bytes: BytesCallback, on_done: DoneCallback
    ) -> Cancellable:
        return self.inner.download(bucket, obj, path, on_bytes, on_done)

    def upload(
        self,
        path: str,
        bucket: str,
        key: str,
        size: int,
        on_bytes: BytesCallback,
        on_done: DoneCallback,
    ) -> Cancellable:
        return self.inner.upload(path, bucket, key, size, on_bytes, on_done)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[str]:
        return self.inner.delete_objects(bucket, keys)


def test_an_object_changed_after_listing_is_not_mixed_in(
    server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    put(server_client, bucket, "in/", {"x.txt": b"original"})
    request = SyncRequest(source=f"s3://{bucket}/in/", destination=str(tmp_path))
    changing = ChangingSource(crt_config, server_client, bucket)
    result = sync(request, s3=changing)
    assert (result.transferred, result.failed, result.retryable) == (0, 1, True)
    assert "PreconditionFailed" in result.errors[0]
    assert not (tmp_path / "x.txt").exists()
    again = sync(request, s3=crt_config)  # the next run sees the new version whole
    assert again.transferred == 1
    assert (tmp_path / "x.txt").read_bytes() == b"rewritten!"


def test_multipart_upload_and_verified_download(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    body = hashlib.sha256(b"seed").digest() * (11 * MiB // 32)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "big.bin").write_bytes(body)
    up = sync(
        SyncRequest(source=str(tmp_path / "src"), destination=f"s3://{bucket}/mp/"), s3=crt_config
    )
    assert up.transferred == 1
    head = server_client.head_object(Bucket=bucket, Key="mp/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts of 5 MiB
    assert head["ContentLength"] == len(body)
    down = sync(
        SyncRequest(source=f"s3://{bucket}/mp/", destination=str(tmp_path / "dst")), s3=crt_config
    )
    assert down.transferred == 1
    assert (tmp_path / "dst" / "big.bin").read_bytes() == body
    # Nothing to do the second time: the multipart ETag is checked against the local file.
    assert (
        sync(
            SyncRequest(source=f"s3://{bucket}/mp/", destination=str(tmp_path / "dst")),
            s3=crt_config,
        ).skipped
        == 1
    )


def test_a_killed_sync_leaves_nothing_partial_and_a_rerun_finishes(
    faults: Faults,
    server_client: S3Client,
    bucket: str,
    crt_config: S3Config,
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    files = bodies(24, size=64 * 1024)
    put(server_client, bucket, "in/", files)
    destination = tmp_path / "dst"
    faults.read_delay = 0.15  # ~2 s in all at 2 objects in flight: time to kill it midway
    env = {**server_env, "DEMAND_SYNC_MAX_IN_FLIGHT": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.sync", f"s3://{bucket}/in/", str(destination)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        give_up = time.monotonic() + 30
        while len(_placed(destination)) < 4 and time.monotonic() < give_up:
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    placed = _placed(destination)
    assert 4 <= len(placed) < len(files), "the sync should have been killed midway"
    for name in placed:  # whatever has a final name is complete and correct
        assert (destination / name).read_bytes() == files[name]

    faults.read_delay = 0.0
    rerun = sync(
        SyncRequest(source=f"s3://{bucket}/in/", destination=str(destination)), s3=crt_config
    )
    assert (rerun.transferred, rerun.skipped, rerun.failed) == (
        len(files) - len(placed),
        len(placed),
        0,
    )
    assert read_tree(destination) == files
    assert partials(destination) == []  # the killed process's partial files are cleaned up


def _placed(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return [path.name for path in directory.iterdir() if not path.name.startswith(".")]


def test_large_bodies_are_hashed_as_they_stream(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    files = {name: hashlib.sha256(name.encode()).digest() * (5 * MiB // 32) for name in "ab"}
    put(server_client, bucket, "big/", files)
    faults.corrupt_pattern = "big/b"
    result = sync(
        SyncRequest(source=f"s3://{bucket}/big/", destination=str(tmp_path)), s3=crt_config
    )
    assert (result.transferred, result.failed) == (1, 1)
    assert f"s3://{bucket}/big/b: checksum mismatch" in result.errors[0]
    assert read_tree(tmp_path) == {"a": files["a"]}
    assert partials(tmp_path) == []


@pytest.mark.parametrize("backend", ["boto3", "crt"])
def test_a_composite_checksum_does_not_vouch_for_a_corrupted_body(
    backend: str,
    faults: Faults,
    server_client: S3Client,
    bucket: str,
    crt_config: S3Config,
    tmp_path: Path,
) -> None:
    # A multipart upload: S3 answers its GETs with a composite checksum ("...-3"), which
    # neither botocore nor the CRT validates; the MD5-of-parts ETag must be checked instead.
    body = hashlib.sha256(b"seed").digest() * (11 * MiB // 32)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "big.bin").write_bytes(body)
    up = sync(
        SyncRequest(source=str(tmp_path / "src"), destination=f"s3://{bucket}/mp/"), s3=crt_config
    )
    assert up.transferred == 1
    faults.corrupt_pattern = "big.bin"
    faults.composite_checksums = True

    access = server_client if backend == "boto3" else crt_config
    down = sync(
        SyncRequest(source=f"s3://{bucket}/mp/", destination=str(tmp_path / "dst")), s3=access
    )
    assert (down.transferred, down.failed) == (0, 1)
    assert "checksum mismatch" in down.errors[0]
    assert not (tmp_path / "dst" / "big.bin").exists()
    assert partials(tmp_path) == []


def test_an_endpoint_answering_multipart_uploads_as_rclone_does_gets_them_through_s3transfer(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    """rclone serve s3 (measured with rclone v1.75.2) replies to CreateMultipartUpload with
    <InitiateMultipartUpload>, not S3's <InitiateMultipartUploadResult>: the CRT finds no
    UploadId (AWS_ERROR_S3_MISSING_UPLOAD_ID). The upload goes through s3transfer instead,
    in parts read from the file, and so does every later multipart upload to that endpoint."""
    from runtime.sync.crt_client import CrtBackend

    faults.rclone_initiate = True
    source = tmp_path / "src"
    source.mkdir()
    files = {f"big-{n}.bin": bytes([65 + n]) * (11 * 2**20 + n) for n in range(3)}
    for name, body in files.items():
        (source / name).write_bytes(body)  # over crt_config's 5 MiB threshold: 3 parts each
    backend = CrtBackend(crt_config)
    done = sync(SyncRequest(source=str(source), destination=f"s3://{bucket}/rc/"), s3=backend)
    assert (done.transferred, done.failed) == (3, 0), done.errors
    assert not backend.crt_multipart
    for name, body in files.items():
        stored = server_client.get_object(Bucket=bucket, Key=f"rc/{name}")
        assert stored["Body"].read() == body
        assert stored["ETag"].strip('"').endswith("-3")  # in parts, not one PUT
    again = sync(
        SyncRequest(source=str(source), destination=f"s3://{bucket}/rc/", force=True), s3=backend
    )
    assert (again.transferred, again.failed) == (3, 0)
    # The endpoint was asked once (an upload created and aborted) before the CRT could start
    # uploads it cannot name: none is left behind.
    assert "Uploads" not in server_client.list_multipart_uploads(Bucket=bucket)
