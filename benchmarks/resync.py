"""Benchmark: the nothing-to-do re-sync — the ``demand sync`` a user types a second time.

    python -m benchmarks.resync                    # 10,000 × 1 KiB, 3 rounds
    python -m benchmarks.resync --files 200 --runs 1   # a smoke run

Against one ``rclone serve s3`` endpoint (benchmarks.sync's), each tool first syncs the data
set once (untimed), both ways; then, in each round, the same command again is timed as a whole
process: it must find everything current and transfer nothing. The engine runs as
``python -m runtime.sync`` with its defaults (every file's content checked against the ETag,
unless it is the very file already verified: ``DEMAND_SYNC_DIGESTS=off`` shows it without that
record); s5cmd runs ``sync`` with its defaults (size and modification time, content never
read); the established system's ``sync_data`` as its users call it
(benchmarks/established_sync.py). Peak resident memory of each run is printed beside its time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks import established_sync
from benchmarks.datasets import DataSet, build
from benchmarks.endpoints import BUCKET, RcloneEndpoint
from benchmarks.tools import fresh_digest_record, s5cmd, timed

TOOLS = ("engine", "s5cmd", "established")


def download(tool: str, prefix: str, target: Path, url: str) -> list[str]:
    source = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", source, str(target)]
    if tool == "established":
        return established_sync.sync_command(source, str(target))
    return [s5cmd(), "--endpoint-url", url, "sync", f"{source}*", f"{target}/"]


def upload(tool: str, source: Path, prefix: str, url: str) -> list[str]:
    target = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", str(source), target]
    if tool == "established":
        return established_sync.sync_command(str(source), target)
    return [s5cmd(), "--endpoint-url", url, "sync", f"{source}/", target]


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
        build(DataSet("part", args.files, args.kib * 1024), data)
        # rclone caches listings: the objects are on its disk before it starts.
        endpoint = RcloneEndpoint(work / "endpoint")
        shutil.copytree(data, endpoint.objects("seed"))
        with endpoint:
            env = fresh_digest_record(endpoint.environment(), work)
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
        f"median of {args.runs} round(s); ratio = tool / s5cmd; peak resident MiB"
    )
    header = f"{'case':<10}" + "".join(f"{tool + ' s':>15}{'ratio':>7}{'MiB':>7}" for tool in TOOLS)
    print(header)
    for case in ("download", "upload"):
        base = statistics.median(seconds[(case, "s5cmd")])
        row = f"{case:<10}"
        for tool in TOOLS:
            value = statistics.median(seconds[(case, tool)])
            mib = max(memory[(case, tool)]) / 2**20
            row += f"{value:>15.3f}{value / base:>7.2f}{mib:>7.0f}"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
