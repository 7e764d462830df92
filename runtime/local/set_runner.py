"""``demand run TEMPLATE --table ROWS -j N``: a run set on this machine, N rows at a time.

Each row is one execution, run by the same :class:`~runtime.local.runner.LocalRun` as a single
``demand run``, in one of N worker processes (runtime/local/set_worker.py) that take rows one
after another: a row runs in its worker's main thread, so what stops and cleans up a single run
stops and cleans up each row. The workers share the root, and so its input cache: a shared
input is downloaded once for the whole set (the cache's stager lock serialises the stagers of
one entry, across processes).

Ctrl-C (or SIGTERM / SIGHUP to this process) stops the set: no row starts after it, every
running row is stopped and cleaned up, and the summary says which rows ran, failed, or never
started. The set's record (runtime/local/set_record.py) lets the same set, run again, skip the
rows that already succeeded with the same request.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Literal

from pydantic import BaseModel

from runtime.exit_codes import EXIT_CODES, EXIT_SUCCEEDED, Failure
from runtime.local.claim import ConcurrentRunError
from runtime.local.jobs import RunnerName
from runtime.local.record import now
from runtime.local.root import LocalRoot
from runtime.local.runner import RunReport
from runtime.local.set_record import (
    RowOutcome,
    SetRecord,
    read_set_record,
    request_digest,
    write_set_record,
)
from runtime.local.set_worker import RowTask, WorkerSettings
from runtime.local.stop import STOP_SIGNALS
from runtime.plan.configuration import PlanningConfiguration
from runtime.runsets.models import RunSet, RunSetRow

SetStatus = Literal["SUCCEEDED", "FAILED", "INTERRUPTED"]
# A machine runs a few rows at once; more workers than this is a typo, not a plan.
MAX_JOBS = 256
WAKE_SECONDS = 0.5


class SetReport(BaseModel):
    """What ``demand run --table`` prints at the end (and as JSON with ``--json``)."""

    set_id: str
    status: SetStatus
    # 0 when every row succeeded (or had, in an earlier run of the set); 123 when some row
    # failed; 130 / 143 when a signal stopped the set (docs/cli.md).
    exit_code: int
    failure: Failure | None = None
    counts: dict[str, int]
    seconds: float
    jobs: int
    rows: list[RowOutcome]
    record_file: str | None = None


class SetProgress:
    """Hears how the set goes; the command line passes one that draws it."""

    def start(self, total: int, skipped: int) -> None:
        return None

    def row_started(self, outcome: RowOutcome) -> None:
        return None

    def row_done(self, outcome: RowOutcome) -> None:
        return None

    def note(self, text: str) -> None:
        """A line a worker wrote on stderr (a warning, a note about a row)."""
        print(text, file=sys.stderr)

    def close(self) -> None:
        return None


def outcome_of(row: RunSetRow, report: RunReport) -> RowOutcome:
    seconds = None
    if report.started_at is not None and report.ended_at is not None:
        seconds = round((report.ended_at - report.started_at).total_seconds(), 3)
    return RowOutcome(
        row=row.number,
        execution_id=report.execution_id,
        state="SUCCEEDED" if report.status == "SUCCEEDED" else "FAILED",
        exit_code=report.exit_code,
        failure=report.failure,
        failed_step=report.failed_step,
        error=report.error,
        seconds=seconds,
        log_file=report.log_file,
        request_digest=request_digest(row.request),
    )


@dataclass
class _Worker:
    process: subprocess.Popen[str]
    row: RunSetRow | None = None
    started: bool = False
    done: int = 0

    def give(self, row: RunSetRow) -> None:
        assert self.process.stdin is not None
        self.row, self.started = row, False
        task = RowTask(row=row.number, spec=row.request.model_dump(mode="json"))
        try:
            self.process.stdin.write(task.model_dump_json() + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # it has ended; its end is reported as such
            pass

    def finish_input(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdin.close()

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            self.process.send_signal(signum)


@dataclass
class _Stop:
    received: int | None = None
    workers: list[_Worker] = field(default_factory=list)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        # On a terminal, Ctrl-C has reached every worker already; sent by kill, it has not.
        for worker in list(self.workers):
            worker.signal(signum)


@contextlib.contextmanager
def _set_lock(root: LocalRoot, set_id: str) -> Iterator[None]:
    """One live run of a set per root: its rows' claims would refuse each other's anyway, and
    two writers of its record would lose one's outcomes."""
    root.locks.mkdir(parents=True, exist_ok=True)
    path = root.locks / f"set-{set_id}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConcurrentRunError(
                f"run set {set_id} is being run now by another demand run (it holds {path})"
            ) from None
        yield
    finally:
        os.close(descriptor)


@dataclass
class LocalRunSet:
    run_set: RunSet
    root: LocalRoot
    runner: RunnerName
    configuration: PlanningConfiguration
    jobs: int = 1
    keep: bool = False
    again: bool = False
    # How the job is isolated, as the runner's check found it (said once, for the whole set).
    sandbox: str | None = None
    progress: SetProgress = field(default_factory=SetProgress)

    def execute(self) -> SetReport:
        started, started_at = time.monotonic(), now()
        with _set_lock(self.root, self.run_set.set_id):
            outcomes = self._outcomes()
            todo = deque(
                row for row in self.run_set.rows if outcomes[row.number].state != "SKIPPED"
            )
            record = SetRecord(
                set_id=self.run_set.set_id,
                template=str(self.run_set.template),
                table=str(self.run_set.table),
                started_at=started_at,
                rows=list(outcomes.values()),
            )
            record_file = self._write(record)
            self.progress.start(len(self.run_set.rows), len(self.run_set.rows) - len(todo))
            stop = _Stop()
            try:
                with _handled(stop):
                    self._run(todo, outcomes, stop)
            finally:
                self.progress.close()
                record.rows, record.ended_at = list(outcomes.values()), now()
                record_file = self._write(record) or record_file
        return self._report(outcomes, stop, time.monotonic() - started, record_file)

    # --- the rows ----------------------------------------------------------------------------

    def _outcomes(self) -> dict[int, RowOutcome]:
        """Every row NOT_STARTED, or SKIPPED where an earlier run of the set succeeded with it."""
        earlier = None if self.again else read_set_record(self.root.sets, self.run_set.set_id)
        succeeded = {
            (row.execution_id, row.request_digest): row
            for row in (earlier.rows if earlier else [])
            if row.state in ("SUCCEEDED", "SKIPPED")
        }
        outcomes = {}
        for row in self.run_set.rows:
            digest = request_digest(row.request)
            before = succeeded.get((row.execution_id, digest))
            if before is not None:
                outcomes[row.number] = before.model_copy(
                    update={"row": row.number, "state": "SKIPPED"}
                )
            else:
                outcomes[row.number] = RowOutcome(
                    row=row.number, execution_id=row.execution_id, request_digest=digest
                )
        return outcomes

    def _run(self, todo: deque[RunSetRow], outcomes: dict[int, RowOutcome], stop: _Stop) -> None:
        events: queue.Queue[tuple[str, _Worker, Any]] = queue.Queue()
        try:
            for _ in range(min(self.jobs, len(todo))):
                if stop.received is not None:
                    break
                worker = self._start_worker(events)
                stop.workers.append(worker)
                worker.give(todo.popleft())
            while stop.workers:
                try:
                    kind, worker, payload = events.get(timeout=WAKE_SECONDS)
                except queue.Empty:
                    if stop.received is not None:
                        for idle in stop.workers:
                            if idle.row is None:
                                idle.finish_input()
                    continue
                if kind == "message":
                    self._message(worker, payload, outcomes, todo, stop)
                elif kind == "exited":
                    stop.workers.remove(worker)
                    self._exited(worker, int(payload), outcomes)
                    if todo and stop.received is None and worker.done:
                        replacement = self._start_worker(events)  # it did rows: not a startup fault
                        stop.workers.append(replacement)
                        replacement.give(todo.popleft())
        finally:
            for worker in stop.workers:  # only after a failure of this process itself
                worker.signal(signal.SIGTERM)
                worker.finish_input()
                worker.process.wait()

    def _message(
        self,
        worker: _Worker,
        message: dict[str, Any],
        outcomes: dict[int, RowOutcome],
        todo: deque[RunSetRow],
        stop: _Stop,
    ) -> None:
        row = worker.row
        if row is None:
            return
        if "started" in message:
            worker.started = True
            outcome = outcomes[row.number]
            outcome.state = "RUNNING"
            self.progress.row_started(outcome)
            return
        report = RunReport.model_validate(message["report"])
        outcome = outcomes[row.number] = outcome_of(row, report)
        worker.row, worker.done = None, worker.done + 1
        self.progress.row_done(outcome)
        if todo and stop.received is None:
            worker.give(todo.popleft())
        else:
            worker.finish_input()

    def _exited(self, worker: _Worker, code: int, outcomes: dict[int, RowOutcome]) -> None:
        row = worker.row
        if row is None:
            return
        outcome = outcomes[row.number]
        if worker.started:  # it died running the row (SIGKILL, a crash): the row failed
            outcome.state = "FAILED"
            outcome.failure = "interrupted" if code < 0 or code >= 128 else "staging"
            outcome.exit_code = 128 - code if code < 0 else code
            outcome.error = f"the worker running it ended with exit code {outcome.exit_code}"
            self.progress.row_done(outcome)
        else:
            outcome.state = "NOT_STARTED"
            if code != 0 and outcome.failure is None and 0 < code < 128:
                outcome.error = f"its worker ended (exit code {code}) before it started the row"

    def _start_worker(self, events: queue.Queue[tuple[str, _Worker, Any]]) -> _Worker:
        # The workers import this same runtime package, wherever the command was run from.
        package_root = str(Path(__file__).resolve().parents[2])
        search_path = os.pathsep.join(
            part for part in (package_root, os.environ.get("PYTHONPATH")) if part
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "runtime.local.worker_entry"],
            env=os.environ | {"PYTHONPATH": search_path, "DEMAND_SET_RUNNER_PID": str(os.getpid())},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            # The same process group: Ctrl-C on a terminal reaches every worker at once.
        )
        worker = _Worker(process)
        settings = WorkerSettings(
            root=str(self.root.path),
            runner=self.runner,
            keep=self.keep,
            configuration=self.configuration.model_dump(mode="json"),
            sandbox=self.sandbox,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(settings.model_dump_json() + "\n")
        process.stdin.flush()
        threading.Thread(
            target=_read_answers, args=(worker, process.stdout, events), daemon=True
        ).start()
        assert process.stderr is not None
        threading.Thread(
            target=_read_notes, args=(process.stderr, self.progress), daemon=True
        ).start()
        return worker

    # --- the end -----------------------------------------------------------------------------

    def _write(self, record: SetRecord) -> str | None:
        try:
            return str(write_set_record(self.root.sets, record))
        except OSError as exc:
            self.progress.note(f"note: could not keep the run set's record: {exc}")
            return None

    def _report(
        self, outcomes: dict[int, RowOutcome], stop: _Stop, seconds: float, record: str | None
    ) -> SetReport:
        rows = [outcomes[row.number] for row in self.run_set.rows]
        counts = Counter(outcome.state for outcome in rows)
        failure: Failure | None = None
        if stop.received is not None:
            status: SetStatus = "INTERRUPTED"
            failure, code = "interrupted", 128 + stop.received
        elif counts["FAILED"] or counts["NOT_STARTED"]:
            status, failure = "FAILED", "rows"
            code = EXIT_CODES["rows"]
        else:
            status, code = "SUCCEEDED", EXIT_SUCCEEDED
        return SetReport(
            set_id=self.run_set.set_id,
            status=status,
            exit_code=code,
            failure=failure,
            counts=dict(counts),
            seconds=round(seconds, 3),
            jobs=self.jobs,
            rows=rows,
            record_file=record,
        )


@contextlib.contextmanager
def _handled(stop: _Stop) -> Iterator[None]:
    """The stop signals noted (and passed to the workers) rather than ending this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, stop.handle)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _read_answers(
    worker: _Worker, answers: IO[str], events: queue.Queue[tuple[str, _Worker, Any]]
) -> None:
    for line in answers:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            events.put(("message", worker, message))
    events.put(("exited", worker, worker.process.wait()))


def _read_notes(notes: IO[str], progress: SetProgress) -> None:
    for line in notes:
        progress.note(line.rstrip("\n"))
