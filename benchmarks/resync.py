"""Benchmark: the nothing-to-do re-sync — the ``demand sync`` a user types a second time.

    python -m benchmarks.resync                    # 10,000 × 1 KiB, 3 rounds
    python -m benchmarks.resync --files 200 --runs 1   # a smoke run

Against one ``rclone serve s3`` endpoint (benchmarks.sync's), each tool first syncs the data
set once (untimed), both ways; then, in each round, the same command again is timed as a whole
process: it must find everything current and transfer nothing. The engine runs as
``python -m runtime.sync`` with its defaults (every file's content checked against the ETag,
unless it is the very file already verified: ``DEMAND_SYNC_DIGESTS=off`` shows it without that
record); s5cmd runs ``sync`` with its defaults (size and modification time, content never
read). Peak resident memory of each run is printed beside its
time (``getrusage`` of the child).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.sync import BUCKET, Endpoint, _s5cmd

TOOLS = ("engine", "s5cmd")


def build(directory: Path, files: int, size: int) -> None:
    directory.mkdir(parents=True)
    for index in range(files):
        (directory / f"part-{index:06d}.bin").write_bytes(os.urandom(size))


def download(tool: str, prefix: str, target: Path, url: str) -> list[str]:
    source = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", source, str(target)]
    return [_s5cmd(), "--endpoint-url", url, "sync", f"{source}*", f"{target}/"]


def upload(tool: str, source: Path, prefix: str, url: str) -> list[str]:
    target = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", str(source), target]
    return [_s5cmd(), "--endpoint-url", url, "sync", f"{source}/", target]


def timed(command: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds and peak resident KiB of one whole process."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{command[0]} failed: {errors.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.resync", description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--kib", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    seconds: dict[tuple[str, str], list[float]] = {}
    memory: dict[tuple[str, str], list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="resync-bench-") as raw:
        work = Path(raw)
        data = work / "data"
        build(data, args.files, args.kib * 1024)
        # rclone caches listings: the objects are on its disk before it starts.
        endpoint = Endpoint(work / "endpoint")
        shutil.copytree(data, endpoint.root / BUCKET / "seed")
        with endpoint:
            env = endpoint.environment()
            # The engine's record of verified files: a fresh one (or off), never the user's.
            env.setdefault("DEMAND_SYNC_DIGESTS", str(work / "sync-digests.sqlite"))
            cases = {}
            for tool in TOOLS:
                target = work / "out" / tool
                cases[("download", tool)] = download(tool, "seed", target, endpoint.url)
                cases[("upload", tool)] = upload(tool, data, f"up-{tool}", endpoint.url)
            for command in cases.values():  # the first sync, untimed
                timed(command, env)
            for round_number in range(args.runs):
                print(f"round {round_number + 1} of {args.runs}", file=sys.stderr, flush=True)
                order = list(cases) if round_number % 2 == 0 else list(reversed(cases))
                for key in order:
                    elapsed, peak = timed(cases[key], env)
                    seconds.setdefault(key, []).append(elapsed)
                    memory.setdefault(key, []).append(peak)
    print(
        f"nothing-to-do re-sync of {args.files:,} × {args.kib} KiB, whole processes, "
        f"median of {args.runs} round(s)"
    )
    columns = ("engine s", "s5cmd s", "ratio", "engine MiB", "s5cmd MiB")
    print(f"{'case':<10}" + "".join(f"{column:>12}" for column in columns))
    for case in ("download", "upload"):
        ours = statistics.median(seconds[(case, "engine")])
        theirs = statistics.median(seconds[(case, "s5cmd")])
        ours_mib = max(memory[(case, "engine")]) / 1024
        theirs_mib = max(memory[(case, "s5cmd")]) / 1024
        print(
            f"{case:<10}{ours:>12.3f}{theirs:>12.3f}{ours / theirs:>12.2f}"
            f"{ours_mib:>12.1f}{theirs_mib:>12.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
