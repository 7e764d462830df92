"""The established system's venv: built once with uv from requirements.txt, cached outside the
repository under ``~/.cache/demand-established/<hash of the pins>``.

Its packages pin an older moto than ours, so they cannot share our venv. When it cannot be built
(no uv, no network) this raises ``EstablishedUnavailableError``: the differential test then fails
saying so; it never skips or passes without having compared.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
PYTHON_VERSION = "3.11"


class EstablishedUnavailableError(RuntimeError):
    """The established venv could not be built here."""


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise EstablishedUnavailableError(
            "the differential test against the established system needs uv (in .venv/bin or on "
            "PATH) to build its venv; none found"
        )
    return found


def established_python() -> Path:
    """The established venv's interpreter, building the venv first when it is not cached."""
    pins = REQUIREMENTS.read_bytes()
    digest = hashlib.sha256(pins + PYTHON_VERSION.encode()).hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "demand-established"
    venv = root / digest
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    uv = _uv()
    partial = root / f"{digest}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [uv, "venv", "--quiet", "--python", PYTHON_VERSION, str(partial)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(partial / "bin" / "python"),
            "-r",
            str(REQUIREMENTS),
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise EstablishedUnavailableError(
                f"could not build the established venv ({' '.join(step[1:3])} exited "
                f"{done.returncode}; network or uv missing?): {done.stderr.strip()[-2000:]}"
            )
    (partial / ".complete").touch()
    try:
        partial.rename(venv)
    except OSError:
        # another worker finished first: use its venv
        shutil.rmtree(partial, ignore_errors=True)
    return python
