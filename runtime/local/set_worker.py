"""One worker of a local run set: runs rows one after another, each as ``demand run`` runs one.

Started by :mod:`runtime.local.set_runner` as ``python -m runtime.local.worker_entry``. It reads,
on stdin, one JSON line of settings (root, runner, keep, the planning configuration), then one
line per row to run; it answers on stdout with one JSON line when a row starts and one with the
row's :class:`~runtime.local.runner.RunReport` when it ends.

Each row runs in this process's main thread, so a signal stops it exactly as it stops a single
``demand run`` — the job taken down, staging cancelled, the cleanup run to its end
(runtime/local/stop.py) — and then the worker reports the row and exits. Ctrl-C on a terminal
reaches every worker at once (they share the terminal's process group); the set runner
forwards a signal it gets otherwise.

The job's own output goes to its log file only (``<root>/logs/<execution id>.log``): several
jobs at once on one terminal would be unreadable.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any, BinaryIO

from pydantic import BaseModel

from runtime.errors import DemandError, DocumentError, PlanError
from runtime.local.jobs import JobLauncher, RunnerName, launcher_named
from runtime.local.root import LocalRoot
from runtime.local.runner import LocalRun, RunReport
from runtime.local.stop import STOP_SIGNALS
from runtime.plan.configuration import PlanningConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.spec import parse_spec
from runtime.volumes import EfsMount


class WorkerSettings(BaseModel):
    root: str
    runner: RunnerName = "process"
    keep: bool = False
    configuration: dict[str, Any] = {}
    # How the set runner found the job would be isolated (its check, warnings said once).
    sandbox: str | None = None


class RowTask(BaseModel):
    row: int
    spec: dict[str, Any]


class _CheckedLauncher:
    """The set's launcher, checked once by the set runner: its check is not said per row."""

    def __init__(self, launcher: JobLauncher, description: str) -> None:
        self.launcher, self.description = launcher, description
        self.in_container = launcher.in_container

    def check(self) -> str:
        return self.description

    def run(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], log: BinaryIO) -> int:
        return self.launcher.run(plan, mounts, log)


class _StoppedError(Exception):
    """A stop signal arrived while no row was running."""


def _idle_stop(signum: int, _frame: FrameType | None) -> None:
    raise _StoppedError(signum)


def refused(execution_id: str, exc: DemandError) -> RunReport:
    """The report of a row its run refused before it started (its id held by another live run,
    a working dir left from an earlier one)."""
    request = isinstance(exc, DocumentError | PlanError)
    problem = "; ".join(exc.problems) if isinstance(exc, DocumentError) else str(exc)
    return RunReport(
        execution_id=execution_id,
        exit_code=125,
        failure="request" if request else "environment",
        failed_step="prepare",
        error=problem,
    )


def run_rows(tasks: IO[str], answers: IO[str]) -> int:
    """Run each row read from ``tasks``; report on ``answers``. The exit code: 0, or 128 + the
    signal that stopped the worker."""
    for number in STOP_SIGNALS:
        signal.signal(number, _idle_stop)
    try:
        settings = WorkerSettings.model_validate_json(tasks.readline() or "{}")
        root = LocalRoot(Path(settings.root))
        launcher = launcher_named(settings.runner)
        with contextlib.redirect_stderr(io.StringIO()):  # the set runner said it already
            description = settings.sandbox or launcher.check()
        checked = _CheckedLauncher(launcher, description)
        configuration = PlanningConfiguration.model_validate(settings.configuration)
        for line in tasks:
            task = RowTask.model_validate_json(line)
            _answer(answers, {"started": task.row})
            report = _run_row(task, root, checked, configuration, keep=settings.keep)
            _answer(answers, {"done": task.row, "report": report.model_dump(mode="json")})
            if report.failure == "interrupted":
                return report.exit_code
    except _StoppedError as stopped:
        return 128 + int(stopped.args[0])
    return 0


def _run_row(
    task: RowTask,
    root: LocalRoot,
    launcher: JobLauncher,
    configuration: PlanningConfiguration,
    *,
    keep: bool,
) -> RunReport:
    spec = parse_spec(task.spec)
    try:
        return LocalRun(
            spec=spec, root=root, launcher=launcher, configuration=configuration, keep=keep
        ).execute()
    except DemandError as exc:
        return refused(spec.execution_id, exc)
    except _StoppedError as stopped:  # before the run's own handling of signals began, or after
        signum = int(stopped.args[0])
        return RunReport(
            execution_id=spec.execution_id,
            exit_code=128 + signum,
            failure="interrupted",
            failed_step="interrupted",
            error=f"interrupted by {signal.Signals(signum).name}",
        )


def _answer(answers: IO[str], message: dict[str, Any]) -> None:
    answers.write(json.dumps(message) + "\n")
    answers.flush()
