"""Download verification: the streaming sink's running MD5, and what verify() accepts."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from runtime.sync.boto_backend import is_full_object_checksum
from runtime.sync.download import verify
from runtime.sync.errors import IntegrityError
from runtime.sync.listing import Entry
from runtime.sync.multipart import multipart_etag
from runtime.sync.settings import S3Config
from runtime.sync.sink import StreamSink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 2**20


def sink_result(sink: StreamSink) -> tuple[str | None, BaseException | None]:
    outcome: list[tuple[str | None, BaseException | None]] = []
    done = threading.Event()

    def then(md5: str | None, error: BaseException | None) -> None:
        outcome.append((md5, error))
        done.set()

    sink.finish(then)
    assert done.wait(10)
    return outcome[0]


def test_sink_writes_small_pieces_and_hashes_in_order(tmp_path: Path) -> None:
    body = os.urandom(3 * MiB + 123)
    path = tmp_path / "partial"
    sink = StreamSink.open(str(path), md5=True)
    assert sink is not None
    for offset in range(0, len(body), MiB):  # as the client delivers a body: in order
        sink.on_body(memoryview(body)[offset : offset + MiB], offset)
    assert sink_result(sink) == (hashlib.md5(body).hexdigest(), None)
    assert path.read_bytes() == body


def test_sink_out_of_order_still_writes_but_does_not_vouch(tmp_path: Path) -> None:
    body = os.urandom(2 * MiB)
    path = tmp_path / "partial"
    sink = StreamSink.open(str(path), md5=True)
    assert sink is not None
    sink.on_body(body[MiB:], MiB)
    sink.on_body(body[:MiB], 0)
    assert sink_result(sink) == (None, None)
    assert path.read_bytes() == body


def test_verify(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"payload")
    etag = hashlib.md5(b"payload").hexdigest()
    entry = Entry("k", 7, etag=etag)
    verify(str(path), entry, "s3://b/k", checksum_validated=False)
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        verify(str(path), Entry("k", 7, etag="1" * 32), "s3://b/k", checksum_validated=False)
    with pytest.raises(IntegrityError, match="received 7 bytes"):
        verify(str(path), Entry("k", 8, etag=etag), "s3://b/k", checksum_validated=False)
    # A full-object checksum the client validated: the size is what is left to check.
    verify(str(path), Entry("k", 7, etag="1" * 32), "s3://b/k", checksum_validated=True)


def test_composite_checksums_are_not_taken_for_validated() -> None:
    # botocore (and the CRT) skip a multipart upload's composite checksum: not validated.
    assert is_full_object_checksum("ChecksumCRC32C", "AAAAAA==")
    assert not is_full_object_checksum("ChecksumCRC32C", "AAAAAA==-3")
    assert not is_full_object_checksum("ChecksumType", "FULL_OBJECT")


def test_verify_multipart_etag_with_a_part_size_from_s3(tmp_path: Path) -> None:
    body = os.urandom(11 * MiB)
    path = tmp_path / "f"
    path.write_bytes(body)
    etag = multipart_etag(path, 5 * MiB)
    entry = Entry("k", len(body), etag=etag)
    verify(str(path), entry, "s3://b/k", checksum_validated=False)  # 5 MiB: a usual size
    odd = Entry("k", len(body), etag=multipart_etag(path, 4 * MiB + 1))
    verify(str(path), odd, "s3://b/k", checksum_validated=False)  # cannot tell: size only
    verify(str(path), odd, "s3://b/k", checksum_validated=False, part_size=lambda _: 4 * MiB + 1)
    with open(path, "r+b") as handle:
        handle.seek(len(body) // 2)
        handle.write(bytes([body[len(body) // 2] ^ 0xFF]))
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        verify(
            str(path), odd, "s3://b/k", checksum_validated=False, part_size=lambda _: 4 * MiB + 1
        )
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        verify(str(path), entry, "s3://b/k", checksum_validated=False, part_size=lambda _: 5 * MiB)


def test_verify_ignores_a_part_size_that_does_not_fit_the_etag(tmp_path: Path) -> None:
    body = os.urandom(11 * MiB)
    path = tmp_path / "f"
    path.write_bytes(body)
    odd = Entry("k", len(body), etag=multipart_etag(path, 4 * MiB + 1))
    # An endpoint that ignores partNumber answers with the whole object's size.
    verify(str(path), odd, "s3://b/k", checksum_validated=False, part_size=lambda _: len(body))


@pytest.mark.parametrize("chunk", [MiB, 3 * MiB + 7])  # chunks that end on parts, and across
def test_sink_hashes_a_multipart_etag_part_by_part(tmp_path: Path, chunk: int) -> None:
    body = os.urandom(11 * MiB + 5)
    path = tmp_path / "partial"
    sink = StreamSink.open(str(path), md5=True, md5_part_size=5 * MiB)
    assert sink is not None
    for offset in range(0, len(body), chunk):
        sink.on_body(memoryview(body)[offset : offset + chunk], offset)
    source = tmp_path / "source"
    source.write_bytes(body)
    assert sink_result(sink) == (multipart_etag(source, 5 * MiB), None)
    assert multipart_etag(source, 5 * MiB).endswith("-3")


def test_a_multipart_download_without_a_checksum_is_verified_on_the_way(
    server_client: S3Client,
    bucket: str,
    crt_config: S3Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An object with only a multipart ETag (s5cmd's, aws cli's uploads to an endpoint that
    keeps no checksum): its parts' MD5s are computed as the body arrives, so the file is not
    read again to verify it."""
    from runtime.sync import download, multipart
    from runtime.sync.api import sync
    from runtime.sync.model import SyncRequest

    body = os.urandom(13 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(body)
    plain = boto3.client(
        "s3",
        endpoint_url=server_client.meta.endpoint_url,
        region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required"),
    )
    plain.upload_file(
        str(source), bucket, "mp/big.bin", Config=TransferConfig(multipart_chunksize=5 * MiB)
    )
    head = server_client.head_object(Bucket=bucket, Key="mp/big.bin", ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3")
    assert not [name for name in head if name.startswith("ChecksumCRC")]
    second_reads: list[str] = []
    original = multipart.etag_matches

    def counted(path: str, *args: object, **kwargs: object) -> bool | None:
        second_reads.append(path)
        return original(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(download, "etag_matches", counted)
    done = sync(
        SyncRequest(source=f"s3://{bucket}/mp/", destination=str(tmp_path / "dst")),
        s3=crt_config,
    )
    assert (done.transferred, done.failed) == (1, 0), done.errors
    assert (tmp_path / "dst" / "big.bin").read_bytes() == body
    assert second_reads == []
