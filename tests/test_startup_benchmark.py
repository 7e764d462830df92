"""benchmarks/startup.py is not a test, but it must not rot: one run of two cases."""

from __future__ import annotations

import pytest

from benchmarks import startup

pytestmark = pytest.mark.slow


def test_the_startup_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert startup.main(["--runs", "1", "--cases", "help", "import:sync"]) == 0
    out = capsys.readouterr().out
    for case in ("python", "help", "import:sync"):
        assert f"\n{case} " in out
    assert "median of 1 runs, byte code: cached" in out


def test_an_unknown_case_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        startup.main(["--cases", "nonesuch"])
    assert "no such case: nonesuch" in capsys.readouterr().err
