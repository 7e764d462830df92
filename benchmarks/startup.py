"""Benchmark: what starting costs — the ``demand`` commands and the Lambda handlers' imports.

    python -m benchmarks.startup                    # every case, 7 runs each
    python -m benchmarks.startup --runs 3 --cases help plan import:sync
    python -m benchmarks.startup --bytecode none    # no byte code, as in the Lambda package
    python -m benchmarks.startup --importtime       # and where each case's imports go
    python -m benchmarks.startup --instructions     # and each case's instruction count (slow)

Each case is a whole process, timed from spawn to exit (wall) and by the CPU it used (user +
system, from the kernel's accounting of the child). The runs of all cases are interleaved
round by round, so a burst of load on a shared machine falls on every case alike; the table
gives the median of the runs. ``demand run`` runs ``examples/hello.yaml`` (an ``echo``); its
overhead is its wall time less the job's own step (``seconds.run`` of its ``--json`` report).

Byte code: by default the cases run with a compiled-byte-code cache of their own
(``PYTHONPYCACHEPREFIX``, filled by a warm-up run), as an installed package has; with
``--bytecode none`` every module is compiled from source on every run, as in the Lambda
package (it ships no byte code: none can be made here for the functions' Python 3.14).

The handlers are imported with the variables Lambda sets (``LAMBDA_TASK_ROOT`` among them): the
X-Ray SDK behaves differently outside Lambda (it makes a botocore client at import).

On a shared machine, time depends on what else runs. ``--instructions`` counts each case's
instructions once under valgrind (``cachegrind --cache-sim=no``, Debian's valgrind): the same
count whatever the load, and slow (a second of Python takes a minute or two).

The code measured is the checkout this file is in, not whatever ``demand`` is on the PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HANDLERS = sorted(
    path.stem
    for path in (PROJECT_ROOT / "runtime" / "handlers").glob("*.py")
    if "\ndef handler(" in path.read_text()
)
# The console script, run from this checkout.
DEMAND = "import sys; sys.argv[0] = 'demand'; from runtime.cli.app import main; main()"
# What issue 17 asks for: command overhead under 0.3 s, a handler's import under 0.2 s.
# What Lambda sets in a function's environment, as far as the imports look at it.
LAMBDA_VARIABLES = {
    "LAMBDA_TASK_ROOT": str(PROJECT_ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "demand-bench-step",
    "AWS_REGION": "us-west-2",
    "POWERTOOLS_SERVICE_NAME": "demand-bench",
}
TARGETS = {"help": 0.3, "plan": 0.3, "run": 0.3, **{f"import:{h}": 0.2 for h in HANDLERS}}


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    variables: tuple[tuple[str, str], ...] = ()


@dataclass
class Measured:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    job: list[float] = field(default_factory=list)  # demand run: the job's own step


def cases(root: Path) -> list[Case]:
    python = sys.executable
    return [
        Case("python", (python, "-c", "pass")),
        Case("help", (python, "-c", DEMAND, "--help")),
        Case("plan", (python, "-c", DEMAND, "plan", "examples/hello.yaml")),
        Case(
            "run",
            (python, "-c", DEMAND, "run", "examples/hello.yaml", "--root", str(root), "--json"),
        ),
        *(
            Case(
                f"import:{handler}",
                (python, "-c", f"import runtime.handlers.{handler}"),
                tuple(LAMBDA_VARIABLES.items()),
            )
            for handler in HANDLERS
        ),
    ]


def _environment(pycache: Path | None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if pycache is None:
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        # an empty cache: the __pycache__ directories of the environment are not looked at
        environment["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="startup-nocache-")
    else:
        environment["PYTHONPYCACHEPREFIX"] = str(pycache)
    return environment


def run_once(case: Case, environment: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and standard output of one run of ``case``."""
    started = time.perf_counter()
    process = subprocess.Popen(
        case.argv,
        cwd=PROJECT_ROOT,
        env={**environment, **dict(case.variables)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{case.name}: exited {process.returncode}: {' '.join(case.argv)}")
    return wall, usage.ru_utime + usage.ru_stime, output


def import_profile(case: Case, environment: dict[str, str], top: int = 8) -> list[tuple[str, int]]:
    """The top-level packages ``case`` spends its import time in (``-X importtime``, self µs)."""
    argv = (case.argv[0], "-X", "importtime", *case.argv[1:])
    result = subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env={**environment, **dict(case.variables)},
        capture_output=True,
        text=True,
        check=False,
    )
    spent: Counter[str] = Counter()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        spent[name.strip().split(".")[0]] += int(own)
    return spent.most_common(top)


def count_instructions(case: Case, environment: dict[str, str]) -> int:
    """The instructions one run of ``case`` executes (its own process, not its children)."""
    valgrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no"]
    valgrind.append("--cachegrind-out-file=/dev/null")
    result = subprocess.run(
        (*valgrind, *case.argv),
        cwd=PROJECT_ROOT,
        env={**environment, **dict(case.variables)},
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"{case.name}: valgrind failed: {result.stderr.strip()[-300:]}")
    return int(found.group(1).replace(",", ""))


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: dict[str, Measured], runs: int, bytecode: str) -> str:
    floor = _median(results["python"].wall) if "python" in results else 0.0
    lines = [
        f"start-up, median of {runs} runs, byte code: {bytecode}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"{'case':<22} {'wall s':>7} {'cpu s':>7} {'- python':>9} {'overhead':>9} {'target':>7}",
    ]
    for name, measured in results.items():
        wall = _median(measured.wall)
        overhead = wall - _median(measured.job) if measured.job else wall
        target = TARGETS.get(name)
        verdict = "" if target is None else f"{target:.1f} {'ok' if overhead < target else 'OVER'}"
        lines.append(
            f"{name:<22} {wall:7.3f} {_median(measured.cpu):7.3f} {wall - floor:9.3f} "
            f"{overhead:9.3f} {verdict:>7}"
        )
    lines.append(
        "wall/cpu: whole process; '- python': less `python -c pass`; overhead: for run, wall "
        "less the job's own step, else wall"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each case (default 7)")
    parser.add_argument("--cases", nargs="*", help="only these cases (names as in the table)")
    parser.add_argument("--bytecode", choices=("cached", "none"), default="cached")
    parser.add_argument("--importtime", action="store_true", help="also print import profiles")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions (valgrind; slow)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind (Debian's package valgrind)")

    with tempfile.TemporaryDirectory(prefix="startup-") as scratch:
        selected = [
            case
            for case in cases(Path(scratch) / "root")
            if not args.cases or case.name in args.cases or case.name == "python"
        ]
        unknown = set(args.cases or ()) - {case.name for case in selected}
        if unknown:
            parser.error(f"no such case: {', '.join(sorted(unknown))}")
        pycache = Path(scratch) / "pycache" if args.bytecode == "cached" else None
        environment = _environment(pycache)
        for case in selected:  # warm-up: the byte-code cache and the file-system cache
            run_once(case, environment)
        results = {case.name: Measured() for case in selected}
        for _ in range(args.runs):
            for case in selected:
                wall, cpu, output = run_once(case, environment)
                results[case.name].wall.append(wall)
                results[case.name].cpu.append(cpu)
                if case.name == "run":
                    results[case.name].job.append(float(json.loads(output)["seconds"]["run"]))
        print(report(results, args.runs, args.bytecode))
        if args.importtime:
            for case in selected:
                profile = import_profile(case, environment)
                shares = ", ".join(f"{name} {us / 1000:.0f}" for name, us in profile)
                print(f"{case.name}: import ms by package (self, -X importtime): {shares}")
        if args.instructions:
            print("instructions, one run each under valgrind (load-independent):")
            for case in selected:
                print(f"{case.name:<22} {count_instructions(case, environment) / 1e6:9.0f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
