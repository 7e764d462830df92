"""Benchmark: this sync engine against s5cmd, ``aws s3 sync`` and the established system's sync.

    python -m benchmarks.sync            # the full run (the lead's: a quiet machine, an hour or so)
    python -m benchmarks.sync --smoke    # every case at tiny sizes, in well under a minute
    python -m benchmarks.sync --many-files 0 --huge-gib 0 --moto-sets '' --startup-runs 0

Data sets: 2000 × 16 KiB (small), 100,000 × 1 KiB (many), 4 × 128 MiB (large), 1 × 2 GiB (huge),
each timed both ways, as whole processes, the way a user runs them; the many set also re-synced
(the same command's nothing-to-do second run, both ways: benchmarks.resync's commands, ``s5cmd
sync`` for s5cmd), which must change nothing. Every download is checked byte for byte.

Endpoints (benchmarks/endpoints.py), each a process of its own on 127.0.0.1: ``rclone serve s3``
runs every set; its objects have MD5 ETags only. moto's server runs the sets ``--moto-sets``
names (moto holds objects in memory and is slow: not the 2 GiB one); its objects are seeded by
``aws s3 cp --checksum-algorithm CRC64NVME`` and each is checked by a HEAD to carry that
checksum before any timing. Each case's label names its endpoint.

The established system's sync (benchmarks/established_sync.py, its own venv) and ``aws s3 sync``
are not run on the many set: at their rates (see their small-set times) 100,000 objects would
take minutes a run; the table says so where their figures would be.

Bounds (benchmarks/bounds.py): for each case, the time the slowest resource it needs allows,
and which one: the endpoint as s5cmd measures it (s5cmd verifies nothing), or, for a download
whose objects' only check is an MD5 ETag, MD5 at this machine's rate (measured in the run) on
min(cores, objects) cores; objects whose checksum the CRT validates as they arrive need no pass
of their own. Which check applies is asked of the engine itself (benchmarks/checksums.py).

Also: a cached stage-in by the engine, cold and again (the cache hit), and the start-up of the
``demand`` commands and the handlers' imports (``python -m benchmarks.startup``).

Fairness: the tools run interleaved within each round; dirty pages are flushed (``sync``)
before each timed run, because on a small VM writeback left over from the previous run slows
the next one's writes several-fold; every run writes to a fresh directory or prefix (creating
thousands of files right after deleting thousands is slow on this disk), and the large files
of each run are removed once checked, so the page cache does not fill up as the runs go on.
The engine runs as ``python -m runtime.sync`` (its lean entry point) with a fresh record of
verified files, s5cmd as its Go binary, the AWS CLI as installed, each with its defaults. Against
rclone the engine's multipart uploads go through s3transfer (awscrt cannot read rclone's
CreateMultipartUpload reply; the engine falls back by itself). Besides the seconds, it reports
each tool's peak resident memory per case (the largest of its runs), measured by the kernel
(``ru_maxrss``) through a small launcher process, so a figure never falls below the launcher's
own (about 10 MiB).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import established_sync, resync
from benchmarks.bounds import Bound, cores, md5_rate, md5_seconds
from benchmarks.checksums import Verification, require_stored, verification
from benchmarks.datasets import DataSet, build, check, tree_state
from benchmarks.endpoints import BUCKET, Endpoint, MotoEndpoint, RcloneEndpoint
from benchmarks.tools import aws, fresh_digest_record, s5cmd, timed

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("engine", "s5cmd", "aws", "established")
KINDS = ("upload", "download", "re-sync upload", "re-sync download")
ENDPOINTS = ("rclone", "moto")
MOTO_SETS = ("small", "large", "huge")
SEED_CHECKSUM = "CRC64NVME"  # what S3 now adds to new uploads by default; a full-object one
# Not run on the many set: at their rates 100,000 objects take minutes a run (the report
# extrapolates from their figures for fewer objects).
TOO_SLOW = ("aws", "established")


@dataclass(frozen=True)
class Case:
    kind: str  # one of KINDS
    data: DataSet
    endpoint: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.data.describe()} ({self.endpoint})"


@dataclass
class Results:
    md5_rate: float  # bytes per second, one core
    cores: int
    seconds: dict[tuple[Case, str], list[float]] = field(default_factory=dict)
    peak_bytes: dict[tuple[Case, str], int] = field(default_factory=dict)
    not_run: dict[Case, list[str]] = field(default_factory=dict)  # the tools left out
    verified: dict[tuple[str, str], Verification] = field(default_factory=dict)
    stored: dict[str, str] = field(default_factory=dict)  # endpoint -> checksum every seed has
    cache: dict[str, float] = field(default_factory=dict)
    startup: str = ""

    def add(self, case: Case, tool: str, value: tuple[float, int]) -> None:
        elapsed, peak = value
        self.seconds.setdefault((case, tool), []).append(elapsed)
        self.peak_bytes[case, tool] = max(self.peak_bytes.get((case, tool), 0), peak)

    def median(self, case: Case, tool: str) -> float | None:
        values = self.seconds.get((case, tool))
        return statistics.median(values) if values else None

    def cases(self) -> list[Case]:
        seen = dict.fromkeys([case for case, _ in self.seconds] + list(self.not_run))
        return sorted(seen, key=lambda c: (ENDPOINTS.index(c.endpoint), KINDS.index(c.kind)))

    def bound(self, case: Case) -> Bound:
        md5 = None
        verifying = self.verified.get((case.endpoint, case.data.name))
        if case.kind == "download" and verifying is not None and not verifying.crt_validated:
            md5 = md5_seconds(case.data.files, case.data.total, self.md5_rate, self.cores)
        return Bound(endpoint=self.median(case, "s5cmd"), md5=md5)


@dataclass(frozen=True)
class Plan:
    sets: tuple[DataSet, ...]
    moto_sets: tuple[str, ...]
    tools: tuple[str, ...]
    runs: int
    md5_bytes: int
    startup_runs: int
    skip: dict[str, tuple[str, ...]] = field(default_factory=dict)  # set name -> tools not run

    def sets_on(self, endpoint: str) -> list[DataSet]:
        if endpoint == "moto":
            return [data for data in self.sets if data.name in self.moto_sets]
        return list(self.sets)


@dataclass(frozen=True)
class Where:
    """One data set on one endpoint, in one round."""

    endpoint: Endpoint
    env: dict[str, str]
    data: DataSet
    source: Path  # the data set's files

    def case(self, kind: str) -> Case:
        return Case(kind, self.data, self.endpoint.name)


def upload_command(tool: str, source: Path, prefix: str, endpoint: Endpoint) -> list[str]:
    target = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", str(source), target]
    if tool == "s5cmd":
        return [s5cmd(), "--endpoint-url", endpoint.url, "cp", f"{source}/*", target]
    if tool == "established":
        return established_sync.sync_command(str(source), target)
    return [aws(), "s3", "sync", str(source), target, "--endpoint-url", endpoint.url, "--quiet"]


def download_command(tool: str, prefix: str, target: Path, endpoint: Endpoint) -> list[str]:
    source = f"s3://{BUCKET}/{prefix}/"
    if tool == "engine":
        return [sys.executable, "-m", "runtime.sync", source, str(target)]
    if tool == "s5cmd":
        return [s5cmd(), "--endpoint-url", endpoint.url, "cp", f"{source}*", f"{target}/"]
    if tool == "established":
        return established_sync.sync_command(source, str(target))
    return [aws(), "s3", "sync", source, str(target), "--endpoint-url", endpoint.url, "--quiet"]


def run(plan: Plan, work: Path, log: Callable[[str], None]) -> Results:
    results = Results(md5_rate=md5_rate(plan.md5_bytes), cores=cores())
    sources = {data.name: work / "data" / data.name for data in plan.sets}
    digests = {data.name: build(data, sources[data.name]) for data in plan.sets}
    with contextlib.ExitStack() as stack:
        endpoints: list[Endpoint] = [stack.enter_context(RcloneEndpoint(work / "rclone"))]
        if plan.sets_on("moto"):
            endpoints.append(stack.enter_context(MotoEndpoint()))
        seeded = {
            (endpoint.name, data.name): seed(endpoint, data, sources[data.name], results)
            for endpoint in endpoints
            for data in plan.sets_on(endpoint.name)
        }
        serial = itertools.count()
        for round_number in range(plan.runs):
            log(f"round {round_number + 1} of {plan.runs}")
            for endpoint in endpoints:
                env = fresh_digest_record(endpoint.environment(), work / endpoint.name)
                for data in plan.sets_on(endpoint.name):
                    where = Where(endpoint, env, data, sources[data.name])
                    tools = _rotated(_tools_for(where, plan, results), round_number)
                    uploads(where, tools, serial, results)
                    downloads(
                        where,
                        tools,
                        seeded[endpoint.name, data.name],
                        digests[data.name],
                        work / "out",
                        serial,
                        results,
                    )
        if "engine" in plan.tools:
            first = plan.sets[0]
            env = fresh_digest_record(endpoints[0].environment(), work / endpoints[0].name)
            results.cache = _cache_stage_in(
                seeded[endpoints[0].name, first.name], work, env, digests[first.name]
            )
    if plan.startup_runs:
        log("start-up: python -m benchmarks.startup")
        results.startup = startup_section(plan.startup_runs)
    return results


def seed(endpoint: Endpoint, data: DataSet, source: Path, results: Results) -> str:
    """The downloads' source, uploaded once (untimed); on moto, with a checksum on each object
    (checked by a HEAD each). Records how the engine's downloads of it are verified."""
    prefix = f"seed-{data.name}"
    env = endpoint.environment()
    if isinstance(endpoint, MotoEndpoint):
        command = [
            aws(),
            "s3",
            "cp",
            "--recursive",
            "--quiet",
            str(source),
            f"s3://{BUCKET}/{prefix}/",
        ]
        timed([*command, "--checksum-algorithm", SEED_CHECKSUM], env)
        results.stored[endpoint.name] = require_stored(endpoint, prefix)
    else:
        timed(upload_command("s5cmd", source, prefix, endpoint), env)
    results.verified[endpoint.name, data.name] = verification(endpoint, prefix)
    return prefix


def _tools_for(where: Where, plan: Plan, results: Results) -> list[str]:
    """The tools run on this data set; the others are recorded as not run."""
    left_out = [tool for tool in plan.tools if tool in plan.skip.get(where.data.name, ())]
    if left_out:
        kinds = KINDS if where.data.resync else KINDS[:2]
        for kind in kinds:
            results.not_run[where.case(kind)] = left_out
    return [tool for tool in plan.tools if tool not in left_out]


def uploads(where: Where, tools: Sequence[str], serial: Iterator[int], results: Results) -> None:
    """Each tool uploads the data set to a fresh prefix; then, for a re-synced set, again."""
    prefixes = {tool: f"up-{tool}-{where.data.name}-{next(serial)}" for tool in tools}
    for tool in tools:
        command = upload_command(tool, where.source, prefixes[tool], where.endpoint)
        results.add(where.case("upload"), tool, timed(command, where.env))
    if where.data.resync:
        for tool in tools:
            command = resync.upload(tool, where.source, prefixes[tool], where.endpoint.url)
            stored = _objects(where.endpoint, prefixes[tool])
            results.add(
                where.case("re-sync upload"), tool, nothing_to_do(command, where.env, stored)
            )
    for prefix in prefixes.values():
        where.endpoint.discard(prefix, large=where.data.size >= 2**20)


def downloads(
    where: Where,
    tools: Sequence[str],
    prefix: str,
    digests: dict[str, str],
    out: Path,
    serial: Iterator[int],
    results: Results,
) -> None:
    """Each tool downloads the seeded set into a fresh directory (checked byte for byte); then,
    for a re-synced set, again into the same directory."""
    name = f"{where.endpoint.name}-{where.data.name}"
    targets = {tool: out / f"{name}-{tool}-{next(serial)}" for tool in tools}
    for tool in tools:
        command = download_command(tool, prefix, targets[tool], where.endpoint)
        results.add(where.case("download"), tool, timed(command, where.env))
        check(targets[tool], digests)
    if where.data.resync:
        for tool in tools:
            command = resync.download(tool, prefix, targets[tool], where.endpoint.url)
            case = where.case("re-sync download")
            results.add(case, tool, nothing_to_do(command, where.env, targets[tool]))
    if where.data.size >= 2**20:  # left in the page cache, large files slow later writes
        for target in targets.values():
            shutil.rmtree(target, ignore_errors=True)


def _objects(endpoint: Endpoint, prefix: str) -> Path:
    if not isinstance(endpoint, RcloneEndpoint):
        raise ValueError(f"re-syncs run on rclone only, whose objects are files: {endpoint.name}")
    return endpoint.objects(prefix)


def nothing_to_do(command: Sequence[str], env: dict[str, str], tree: Path) -> tuple[float, int]:
    """Time a re-sync (as :func:`timed`) that must leave every file under ``tree`` as it was."""
    before = tree_state(tree)
    measured = timed(command, env)
    after = tree_state(tree)
    if after != before:
        changed = sum(after.get(path) != state for path, state in before.items())
        raise RuntimeError(
            f"a re-sync changed {tree} ({changed} of {len(before)} files, "
            f"{len(after.keys() - before.keys())} added): {' '.join(command[:3])} ..."
        )
    return measured


def _cache_stage_in(
    prefix: str, work: Path, env: dict[str, str], digests: dict[str, str]
) -> dict[str, float]:
    """A cached stage-in, cold, then again: the hit must read no bodies."""
    target = work / "shared" / "input"
    command = [sys.executable, "-m", "runtime.sync", f"s3://{BUCKET}/{prefix}/", str(target)]
    cold, _ = timed([*command, "--cached", "--json"], env)
    check(target, digests)
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


def startup_section(runs: int) -> str:
    """benchmarks.startup's table, from its own command line (``--runs``), in a process of its
    own; a failure there is reported, not raised: the sync figures stand without it."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.startup", "--runs", str(runs)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return (
            f"start-up: python -m benchmarks.startup failed ({done.returncode}): "
            + (done.stderr.strip()[-500:])
        )
    return done.stdout.rstrip()


def _rotated(tools: Sequence[str], offset: int) -> list[str]:
    if not tools:
        return []
    shift = offset % len(tools)
    return [*tools[shift:], *tools[:shift]]


def report(results: Results, plan: Plan) -> str:
    cases = results.cases()
    width = max([len(case.label) for case in cases] + [4]) + 2
    sections = [
        _seconds_table(results, plan, cases, width),
        _bounds_table(results, plan, cases, width),
        _memory_table(results, plan, cases, width),
        _checksums(results, plan),
    ]
    if results.cache:
        cache = results.cache
        share = cache["hit"] / cache["cold"] * 100
        share_in = cache["hit in-process"] / cache["cold"] * 100
        sections.append(
            f"engine, cached stage-in of {plan.sets[0].describe()} (rclone):\n"
            f"  cold {cache['cold']:.2f} s; cache hit {cache['hit']:.3f} s as a process "
            f"({share:.1f} % of cold), {cache['hit in-process']:.3f} s in a warm process "
            f"({share_in:.1f} %); no object bodies read"
        )
    if results.startup:
        sections.append(results.startup)
    return "\n\n".join(section for section in sections if section)


def _seconds_table(results: Results, plan: Plan, cases: list[Case], width: int) -> str:
    tools = plan.tools
    others = [tool for tool in tools if tool != "s5cmd"] if "s5cmd" in tools else []
    lines = [
        f"median of {plan.runs} run(s), seconds (whole processes); ratio = tool / s5cmd",
        f"{'case':<{width}}"
        + "".join(f"{tool:>12}" for tool in tools)
        + "".join(f"{tool + '/s5cmd':>18}" for tool in others),
    ]
    for case in cases:
        left_out = results.not_run.get(case, [])
        row = f"{case.label:<{width}}"
        for tool in tools:
            value = results.median(case, tool)
            shown = "not run" if tool in left_out else "-"
            row += f"{value:>12.2f}" if value is not None else f"{shown:>12}"
        base = results.median(case, "s5cmd")
        for tool in others:
            value = results.median(case, tool)
            row += f"{value / base:>18.2f}" if value is not None and base else f"{'-':>18}"
        lines.append(row)
    lines += _not_run_notes(results, cases)
    return "\n".join(lines)


def _not_run_notes(results: Results, cases: list[Case]) -> list[str]:
    """Why a tool has no figure for a case, with what its own figures here predict."""
    notes: dict[tuple[str, DataSet], list[str]] = {}
    for case in cases:
        for tool in results.not_run.get(case, []):
            notes.setdefault((tool, case.data), [])
            if case.kind != "download":
                continue
            measured = [
                (other.data.files, value)
                for other in cases
                if other.kind == "download"
                and other.endpoint == case.endpoint
                and (value := results.median(other, tool)) is not None
            ]
            if measured:
                files, value = max(measured)
                estimate = value * case.data.files / files
                notes[tool, case.data].append(
                    f"{value:.2f} s for {files} objects here: about {estimate:.0f} s a download"
                )
    return [
        f"not run: {tool} on {data.describe()} — too slow for this many objects"
        + (f" ({'; '.join(predicted)})" if predicted else "")
        for (tool, data), predicted in notes.items()
    ]


def _bounds_table(results: Results, plan: Plan, cases: list[Case], width: int) -> str:
    rate = results.md5_rate / 2**20
    lines = [
        "bound: the time the slowest resource a case needs allows. endpoint = s5cmd's time (it "
        "verifies nothing); MD5 = objects whose only check is an MD5 ETag, hashed at "
        f"{rate:.0f} MiB/s a core (hashlib.md5, measured now on {plan.md5_bytes // 2**20} MiB) "
        f"on min({results.cores} cores, objects); none for a checksum the CRT validates as the "
        "bytes arrive, an upload or a re-sync",
        f"{'case':<{width}}{'verified by':>24}{'endpoint s':>12}{'MD5 s':>9}{'bound':>10}"
        f"{'bound s':>9}{'engine s':>10}{'engine/bound':>14}",
    ]
    for case in cases:
        bound = results.bound(case)
        verifying = results.verified.get((case.endpoint, case.data.name))
        verified = (
            verifying.describe() if verifying is not None and case.kind == "download" else "-"
        )
        engine = results.median(case, "engine")
        seconds = bound.seconds
        lines.append(
            f"{case.label:<{width}}{verified:>24}{_cell(bound.endpoint, 12)}{_cell(bound.md5, 9)}"
            f"{bound.name:>10}{_cell(seconds, 9)}{_cell(engine, 10)}"
            + (f"{engine / seconds:>14.2f}" if engine is not None and seconds else f"{'-':>14}")
        )
    return "\n".join(lines)


def _cell(value: float | None, width: int) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


def _memory_table(results: Results, plan: Plan, cases: list[Case], width: int) -> str:
    lines = [
        "peak resident memory, MiB (the largest of the runs)",
        f"{'case':<{width}}" + "".join(f"{tool:>12}" for tool in plan.tools),
    ]
    for case in cases:
        row = f"{case.label:<{width}}"
        for tool in plan.tools:
            peak = results.peak_bytes.get((case, tool))
            row += f"{peak / 2**20:>12.0f}" if peak is not None else f"{'-':>12}"
        lines.append(row)
    return "\n".join(lines)


def _checksums(results: Results, plan: Plan) -> str:
    lines = [
        f"{endpoint}: every seeded object carries {algorithm} (a HEAD each, ChecksumMode "
        f"ENABLED; seeded by aws s3 cp --checksum-algorithm {SEED_CHECKSUM})"
        for endpoint, algorithm in results.stored.items()
    ]
    for (endpoint, name), verifying in results.verified.items():
        if verifying.algorithm is not None and not verifying.crt_validated:
            lines.append(
                f"{endpoint}, {name} set: the engine's CRT client did not validate the "
                f"{verifying.algorithm} checksum the objects carry (MD5 of the ETag instead)"
            )
    return "\n".join(lines)


@contextlib.contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as raw:
        yield Path(raw)


# What --smoke changes: every case, at sizes that run in well under a minute.
SMOKE = {
    "small_files": 12,
    "small_kib": 4,
    "many_files": 50,
    "large_files": 1,
    "large_mib": 10,  # above the part size: a multipart object, downloaded in ranges
    "huge_gib": 24 / 1024,  # above the engine's single-PUT and multipart thresholds
    "runs": 1,
    "startup_runs": 1,
    "md5_mib": 32,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sync",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--smoke", action="store_true", help="every case at tiny sizes")
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument("--small-kib", type=int, default=16)
    parser.add_argument("--many-files", type=int, default=100_000, help="0: no many set")
    parser.add_argument("--many-kib", type=int, default=1)
    parser.add_argument("--large-files", type=int, default=4)
    parser.add_argument("--large-mib", type=int, default=128)
    parser.add_argument("--huge-gib", type=float, default=2, help="one file of this size; 0: none")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--moto-sets",
        default="small,large",
        help=f"comma-separated sets also run on moto, of {', '.join(MOTO_SETS)}; '': no moto",
    )
    parser.add_argument(
        "--startup-runs", type=int, default=3, help="benchmarks.startup --runs; 0: no start-up"
    )
    parser.add_argument("--md5-mib", type=int, default=256, help="buffer for MD5's rate")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated, of " + ", ".join(TOOLS)
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    if "--smoke" in (sys.argv[1:] if argv is None else argv):
        parser.set_defaults(**SMOKE)  # flags given still win
    args = parser.parse_args(argv)
    tools = tuple(tool for tool in args.tools.split(",") if tool)
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    moto_sets = tuple(name for name in args.moto_sets.split(",") if name)
    if set(moto_sets) - set(MOTO_SETS):
        parser.error(f"--moto-sets: of {', '.join(MOTO_SETS)}")
    sets = [
        DataSet("small", args.small_files, args.small_kib * 1024),
        DataSet("many", args.many_files, args.many_kib * 1024, resync=True),
        DataSet("large", args.large_files, args.large_mib * 2**20),
        DataSet("huge", 1 if args.huge_gib > 0 else 0, int(args.huge_gib * 2**30)),
    ]
    plan = Plan(
        sets=tuple(data for data in sets if data.files > 0 and data.size > 0),
        moto_sets=moto_sets,
        tools=tools,
        runs=args.runs,
        md5_bytes=args.md5_mib * 2**20,
        startup_runs=args.startup_runs,
        skip={"many": TOO_SLOW},
    )
    if not plan.sets:
        parser.error("no data set left to run")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with _workspace(args.workdir) as work:
        results = run(plan, work, log)
    print(report(results, plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
