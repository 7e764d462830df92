"""Download verification: the follower's running MD5, and what verify() accepts."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from runtime.sync.download import verify
from runtime.sync.errors import IntegrityError
from runtime.sync.follower import HashFollower
from runtime.sync.listing import Entry

MiB = 2**20


def test_follower_hashes_a_file_written_out_of_order(tmp_path: Path) -> None:
    body = os.urandom(24 * MiB)
    path = tmp_path / "partial"
    parts = list(range(0, len(body), MiB))
    random.Random(7).shuffle(parts)
    follower = HashFollower.start(str(path))
    assert follower is not None

    def write() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        for offset in parts:  # as the transfer client does: parts at their offsets
            os.pwrite(fd, body[offset : offset + MiB], offset)
            time.sleep(0.001)
        os.close(fd)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join()
    assert follower.finish() == hashlib.md5(body).hexdigest()


def test_follower_of_a_file_never_written(tmp_path: Path) -> None:
    follower = HashFollower.start(str(tmp_path / "never"))
    assert follower is not None
    assert follower.finish() is None


def test_verify(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"payload")
    etag = hashlib.md5(b"payload").hexdigest()
    entry = Entry("k", 7, etag=etag)
    verify(str(path), entry, "s3://b/k", checksum_validated=False)
    # A follower digest that does not match is not trusted: the file is hashed again.
    verify(str(path), entry, "s3://b/k", checksum_validated=False, md5="0" * 32)
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        verify(str(path), Entry("k", 7, etag="1" * 32), "s3://b/k", checksum_validated=False)
    with pytest.raises(IntegrityError, match="received 7 bytes"):
        verify(str(path), Entry("k", 8, etag=etag), "s3://b/k", checksum_validated=False)
    # A checksum the client validated, or no ETag at all: the size is what is left to check.
    verify(str(path), Entry("k", 7, etag="1" * 32), "s3://b/k", checksum_validated=True)
