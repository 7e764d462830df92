"""``./dev`` says so on stderr when it starts a long set-up step (issue 14, item 12)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).parents[1]


def test_first_use_says_it_is_installing(tmp_path: Path) -> None:
    shutil.copy(REPOSITORY / "dev", tmp_path / "dev")
    shutil.copy(REPOSITORY / "pyproject.toml", tmp_path / "pyproject.toml")
    # A stand-in venv whose python only records what it was asked: no install happens.
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\n')
    python.chmod(0o755)
    first = subprocess.run(
        ["bash", str(tmp_path / "dev"), "true"], capture_output=True, text=True, check=False
    )
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith("dev: installing the project and its tools into .venv")
    assert "uv pip install" in (python.parent / "calls").read_text()
    again = subprocess.run(
        ["bash", str(tmp_path / "dev"), "true"], capture_output=True, text=True, check=False
    )
    assert (again.returncode, again.stderr) == (0, "")
