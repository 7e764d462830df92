"""``demand run``: prepare, stage in, run the job, stage out, clean up — here, in that order.

The same plan and the same step functions as the state machine; a local directory stands in
for EFS and the job runs as a local process (or container). What the state machine does on a
failure happens here too: no stage-out after a failed job, then the cleanup policy.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from runtime.config import PlanningConfiguration
from runtime.errors import DemandError, PlanError
from runtime.local.jobs import JobRunner, log_path
from runtime.local.root import LocalRoot
from runtime.plan import ExecutionPlan, build_plan
from runtime.spec import DemandExecution
from runtime.steps.cleanup import CleanupItem, clean_up_execution
from runtime.sync import SyncResult, sync
from runtime.sync.progress import SyncProgress
from runtime.sync.request import SyncRequest
from runtime.volumes import EfsMount, efs_to_local
from runtime.workdir import prepare_working_dir

Status = Literal["SUCCEEDED", "FAILED"]
# Inputs (and outputs) staged at once; each sync is itself concurrent.
STAGING_WORKERS = 4


class StageSummary(BaseModel):
    transferred: int = 0
    skipped: int = 0
    bytes: int = 0
    cache_hits: int = 0

    def add(self, result: SyncResult) -> None:
        self.transferred += result.transferred
        self.skipped += result.skipped
        self.bytes += result.bytes
        self.cache_hits += int(result.cache_hit)


class RunReport(BaseModel):
    """What ``demand run`` prints at the end (and as JSON with ``--json``)."""

    execution_id: str
    status: Status = "FAILED"
    exit_code: int = 1
    failed_step: str | None = None
    error: str | None = None
    seconds: dict[str, float] = {}
    stage_in: StageSummary = StageSummary()
    stage_out: StageSummary = StageSummary()
    log_file: str | None = None
    working_dir: str | None = None
    kept: bool = False


class StepFailedError(DemandError):
    """A step other than the job itself failed; the report says which and why."""


ProgressFactory = Callable[[str, Sequence[SyncRequest]], "StagingProgress"]


class StagingProgress:
    """Receives staging progress; the CLI passes one that draws rich progress bars."""

    def subscriber(self, request: SyncRequest) -> SyncProgress | None:
        return None

    def close(self) -> None:
        return None


@dataclass
class LocalRun:
    spec: DemandExecution
    root: LocalRoot
    runner: JobRunner
    configuration: PlanningConfiguration = field(default_factory=PlanningConfiguration)
    keep: bool = False
    progress: ProgressFactory = field(default=lambda _stage, _requests: StagingProgress())

    def execute(self) -> RunReport:
        report = RunReport(execution_id=self.spec.execution_id)
        self.runner.check()
        plan = self._plan()
        mounts = self.root.mounts()
        report.working_dir = str(efs_to_local(plan.working_dir.efs_uri, mounts))
        succeeded = False
        try:
            with self._step(report, "prepare"):
                self._refuse_leftover_working_dir(plan, mounts)
                prepare_working_dir(plan, mounts)
            with self._step(report, "stage_in"):
                self._stage("stage_in", plan.stage_in, mounts, report.stage_in)
            with self._step(report, "run"):
                report.exit_code = self._run_job(plan, mounts, report)
            if report.exit_code != 0:
                report.failed_step, report.error = "run", f"exit code {report.exit_code}"
            else:
                with self._step(report, "stage_out"):
                    self._stage("stage_out", plan.stage_out, mounts, report.stage_out)
                succeeded = True
        except StepFailedError:
            pass
        finally:
            self._clean_up(plan, mounts, report, succeeded=succeeded)
        report.status = "SUCCEEDED" if succeeded else "FAILED"
        if succeeded:
            report.exit_code = 0
        elif report.exit_code == 0:
            report.exit_code = 1
        return report

    def _plan(self) -> ExecutionPlan:
        volumes = self.root.volumes(
            in_container=self.runner.in_container, base=self.configuration.volumes
        )
        return build_plan(self.spec, volumes, self.configuration.context)

    @staticmethod
    def _refuse_leftover_working_dir(plan: ExecutionPlan, mounts: Sequence[EfsMount]) -> None:
        working = efs_to_local(plan.working_dir.efs_uri, mounts)
        if working.exists():
            raise PlanError(
                f"the working dir of {plan.execution_id} is left from an earlier run: "
                f"remove {working} or use another execution_id"
            )

    @contextmanager
    def _step(self, report: RunReport, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except (DemandError, OSError) as exc:
            if isinstance(exc, PlanError) and name == "prepare":
                raise
            report.failed_step, report.error = name, str(exc)
            raise StepFailedError(str(exc)) from exc
        finally:
            report.seconds[name] = round(time.monotonic() - started, 3)

    def _stage(
        self,
        stage: str,
        requests: Sequence[SyncRequest],
        mounts: Sequence[EfsMount],
        summary: StageSummary,
    ) -> None:
        progress = self.progress(stage, requests)
        try:
            with ThreadPoolExecutor(max_workers=STAGING_WORKERS) as pool:
                results = pool.map(
                    lambda r: sync(r, mounts=mounts, progress=progress.subscriber(r)), requests
                )
                for result in results:
                    summary.add(result)
                    result.raise_for_failures()
        finally:
            progress.close()

    def _run_job(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], report: RunReport) -> int:
        log = log_path(plan, mounts)
        kept_log = self.root.logs / f"{plan.execution_id}.log"
        report.log_file = str(kept_log)
        try:
            with log.open("wb") as handle:
                return self.runner.run(plan, mounts, handle)
        finally:
            # The working dir may be cleaned up; the log is kept beside the runs.
            kept_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, kept_log)

    def _clean_up(
        self,
        plan: ExecutionPlan,
        mounts: Sequence[EfsMount],
        report: RunReport,
        *,
        succeeded: bool,
    ) -> None:
        started = time.monotonic()
        if self.keep:
            report.kept = True
        else:
            item = CleanupItem(execution_id=plan.execution_id, requests=plan.cleanup)
            clean_up_execution(
                item,
                volumes=self.root.volumes(
                    in_container=self.runner.in_container, base=self.configuration.volumes
                ),
                mounts=mounts,
                succeeded=succeeded,
            )
            report.kept = Path(report.working_dir or "").exists()
        report.seconds["cleanup"] = round(time.monotonic() - started, 3)
