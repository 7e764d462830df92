"""Part sizes for any object up to 5 TiB, and multipart ETags (no large uploads needed)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.sync.multipart import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    GiB,
    MiB,
    etag_matches,
    multipart_etag,
    part_size_for,
)


@given(st.integers(min_value=0, max_value=MAX_OBJECT_SIZE), st.sampled_from([5, 8, 16, 64]))
def test_parts_always_within_s3_limits(size: int, preferred_mib: int) -> None:
    part = part_size_for(size, preferred_mib * MiB)
    assert MIN_PART_SIZE <= part <= MAX_PART_SIZE
    assert math.ceil(size / part) <= MAX_PARTS
    assert part % MiB == 0


@pytest.mark.parametrize(
    ("size", "part"),
    [
        (100 * MiB, 8 * MiB),  # the preferred size when it fits
        (5 * GiB + 1, 8 * MiB),  # just over one PUT's limit: 641 parts of 8 MiB
        (80 * GiB, 9 * MiB),  # 8 MiB would need 10,240 parts
        (MAX_OBJECT_SIZE, 525 * MiB),  # 5 TiB in 9,988 parts
    ],
)
def test_large_objects(size: int, part: int) -> None:
    assert part_size_for(size) == part


def test_over_five_tebibytes_is_refused() -> None:
    with pytest.raises(ValueError, match="5 TiB"):
        part_size_for(MAX_OBJECT_SIZE + 1)


def test_multipart_etag_and_inference(tmp_path: Path) -> None:
    body = bytes(range(256)) * (11 * MiB // 256)
    path = tmp_path / "f"
    path.write_bytes(body)
    parts = [body[i : i + 5 * MiB] for i in range(0, len(body), 5 * MiB)]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert multipart_etag(path, 5 * MiB) == f"{expected}-3"
    # 3 parts of 11 MiB: 5 MiB is a common part size, so the ETag can be checked.
    assert etag_matches(path, len(body), f"{expected}-3") is True
    assert etag_matches(path, len(body), f"{'0' * 32}-3") is None  # cannot tell
    assert etag_matches(path, len(body), hashlib.md5(body).hexdigest()) is True
    assert etag_matches(path, len(body), "0" * 32) is False
