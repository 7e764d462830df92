"""Where the established venv cannot be built, the differential test is told so: never a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.established import venv


def test_no_uv_is_an_error_saying_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(venv.EstablishedUnavailableError, match="needs uv"):
        venv.established_python()


def test_a_failed_build_is_an_error_saying_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    failing = tmp_path / "uv"
    failing.write_text("#!/bin/sh\necho 'no network' >&2\nexit 2\n")
    failing.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(venv, "_uv", lambda: str(failing))
    with pytest.raises(venv.EstablishedUnavailableError, match="no network"):
        venv.established_python()
    assert not list((tmp_path / "cache" / "demand-established").iterdir())
