"""``demand run``: prepare, stage in, run the job, stage out, clean up — here, in that order.

The same plan and the same step functions as the state machine; a local directory stands in
for EFS and the job runs as a local process (or container). What the state machine does on a
failure happens here too: no stage-out after a failed job, then the cleanup policy.

The job is confined (runtime/local/sandbox.py: it sees only its own execution) and never
outlives the run (runtime/local/guard.py); one live run per execution id holds its claim
(runtime/local/claim.py); SIGINT / SIGTERM / SIGHUP stop the run, cleanup included
(runtime/local/stop.py).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from runtime.errors import DemandError
from runtime.exit_codes import EXIT_CODES, EXIT_SUCCEEDED, Failure
from runtime.local.claim import claim_execution
from runtime.local.jobs import JobLauncher, log_path
from runtime.local.record import StepTiming, TransferRecord, now, run_record_path, tree_size
from runtime.local.root import LocalRoot
from runtime.local.stop import Interrupted, stopped_by_signals
from runtime.plan.builder import build_plan
from runtime.plan.configuration import PlanningConfiguration
from runtime.plan.models import CleanupRequest, ExecutionPlan, Resources
from runtime.reuse.lookup import ReuseCheck, SeenState, check_reuse, record_result
from runtime.reuse.outputs import ResultGoneError, deliver
from runtime.reuse.sqlite_records import SqliteRecords
from runtime.spec import DemandExecution
from runtime.steps.cleanup import CleanupItem, clean_up_execution
from runtime.steps.roots import ExecutionRoots
from runtime.steps.stage import Direction, StagingPolicy, SyncItem, run_item, sync_items
from runtime.steps.workdir import prepare_working_dir
from runtime.sync import SyncResult, sync
from runtime.sync.model import SyncRequest
from runtime.sync.progress import SyncProgress
from runtime.volumes import EfsMount, VolumeConfiguration, efs_to_local

Status = Literal["SUCCEEDED", "FAILED"]
# Inputs (and outputs) staged at once; each sync is itself concurrent.
STAGING_WORKERS = 4


class StageSummary(BaseModel):
    transferred: int = 0
    skipped: int = 0
    bytes: int = 0
    cache_hits: int = 0

    def add(self, item: SyncItem) -> None:
        self.transferred += item.transferred
        self.skipped += item.skipped
        self.bytes += item.bytes
        self.cache_hits += item.cache_hits


class RunReport(BaseModel):
    """What ``demand run`` prints at the end (and as JSON with ``--json``)."""

    execution_id: str
    status: Status = "FAILED"
    # docs/cli.md's table: the job's own code when the job failed ("job"), 125-127 for the
    # platform's failures, 130 / 143 when a signal stopped the run.
    exit_code: int = EXIT_CODES["staging"]
    failure: Failure | None = None
    failed_step: str | None = None
    error: str | None = None
    seconds: dict[str, float] = {}
    stage_in: StageSummary = StageSummary()
    stage_out: StageSummary = StageSummary()
    log_file: str | None = None
    working_dir: str | None = None
    kept: bool = False
    # How the job was isolated: "bubblewrap", "docker", or "none: <why not>".
    sandbox: str | None = None
    # For `demand report` (runtime/local/record.py): when the run and each step ran, what
    # each input and output moved, and what the job asked for.
    started_at: datetime | None = None
    ended_at: datetime | None = None
    steps: list[StepTiming] = []
    transfers: list[TransferRecord] = []
    image: str | None = None
    resources: Resources | None = None
    record_file: str | None = None
    # Results reused (docs/reuse.md): the request's key (None: not reusable), the execution
    # whose result this run delivered instead of running (None: it ran), and what the check and
    # the record found ("hit: …", "miss: …", "not reusable: …", "recorded", …).
    reuse_key: str | None = None
    reused_from: str | None = None
    reuse: str | None = None


class StepFailedError(DemandError):
    """A step other than the job itself failed; the report says which and why."""


class JobNotStartedError(DemandError):
    """The job's process could not be launched."""


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
    launcher: JobLauncher
    configuration: PlanningConfiguration = field(default_factory=PlanningConfiguration)
    keep: bool = False
    progress: ProgressFactory = field(default=lambda _stage, _requests: StagingProgress())

    def execute(self) -> RunReport:
        report = RunReport(execution_id=self.spec.execution_id, started_at=now())
        report.sandbox = self.launcher.check()
        volumes = self.root.volumes(
            in_container=self.launcher.in_container, base=self.configuration.volumes
        )
        plan = build_plan(self.spec, volumes, self.configuration.context)
        report.image, report.resources = plan.job.image, plan.job.resources
        mounts = self.root.mounts()
        working = efs_to_local(plan.working_dir.efs_uri, mounts)
        report.working_dir = str(working)
        # Before anything can be cleaned up: this run's claim on the execution id.
        claim = claim_execution(
            self.root.locks,
            plan.execution_id,
            working,
            lambda: self._remove_left_over(plan, volumes, mounts),
        )
        if claim.took_over:
            print(
                f"note: removed the working dir of {plan.execution_id} that a run which "
                "never ended had left",
                file=sys.stderr,
            )
        succeeded = False
        with stopped_by_signals() as stopper:
            try:
                succeeded = self._steps(plan, volumes, mounts, report, stopper.finishing)
            except Interrupted as exc:  # in the instant between two of the steps' handlers
                report.error, report.exit_code = str(exc), exc.exit_code
                report.failure = "interrupted"
            finally:
                claim.release(kept=working.exists() or working.is_symlink())
        report.status = "SUCCEEDED" if succeeded else "FAILED"
        if succeeded:
            report.exit_code, report.failure = EXIT_SUCCEEDED, None
        elif report.failure is None:  # a step of the platform, or a cleanup after the job
            report.failure = "staging"
            report.exit_code = EXIT_CODES["staging"]
        self._keep_record(report)
        return report

    def _keep_record(self, report: RunReport) -> None:
        """Write the report where ``demand report ID`` finds it; a run never fails for it."""
        report.ended_at = now()
        path = run_record_path(self.root.runs, report.execution_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            report.record_file = str(path)
            partial.write_text(report.model_dump_json(indent=2), encoding="utf-8")
            partial.replace(path)
        except OSError as exc:
            report.record_file = None
            print(f"note: could not keep the run's record in {path}: {exc}", file=sys.stderr)

    def _steps(
        self,
        plan: ExecutionPlan,
        volumes: VolumeConfiguration,
        mounts: Sequence[EfsMount],
        report: RunReport,
        finishing: Callable[[], None],
    ) -> bool:
        """The steps in order, then the cleanup (``finishing`` first: no signal stops it);
        whether the run succeeded."""
        succeeded = False
        try:
            with self._step(report, "prepare"):
                check = self._check_reuse(volumes, report)
                reused = check.hit is not None and self._deliver(check, plan, report)
                if not reused:
                    roots = ExecutionRoots.of(plan.execution_id, volumes)
                    prepare_working_dir(plan, roots, mounts)
            if reused:
                # No job, no staging: the recorded outputs are where this request wants them.
                succeeded = True
            else:
                succeeded = self._run_and_stage(plan, mounts, report)
                if succeeded:
                    self._record(check, plan, volumes, mounts, report)
        except StepFailedError:
            pass
        except Interrupted as exc:
            report.failed_step = report.failed_step or "interrupted"
            report.error, report.exit_code = str(exc), exc.exit_code
            report.failure = "interrupted"
        finally:
            finishing()
            # As in the state machine, a failed cleanup fails the execution.
            succeeded = self._clean_up(plan, volumes, mounts, report, succeeded=succeeded)
        return succeeded

    def _run_and_stage(
        self, plan: ExecutionPlan, mounts: Sequence[EfsMount], report: RunReport
    ) -> bool:
        """Stage in, run the job, stage out (not after a failed job); whether all succeeded."""
        with self._step(report, "stage_in"):
            self._stage(plan, "stage_in", mounts, report.stage_in, report.transfers)
        with self._step(report, "run"):
            try:
                code = self._run_job(plan, mounts, report)
            except OSError as exc:
                report.failure, report.exit_code = "start", EXIT_CODES["start"]
                raise JobNotStartedError(f"the job could not start: {exc}") from exc
        if code != 0:
            report.failed_step, report.error = "run", f"exit code {code}"
            report.failure, report.exit_code = "job", code
            return False
        with self._step(report, "stage_out"):
            self._stage(plan, "stage_out", mounts, report.stage_out, report.transfers)
        return True

    def _runner_kind(self) -> str:
        return "container" if self.launcher.in_container else "process"

    def reuse_check(self) -> ReuseCheck:
        """Whether this run would reuse an earlier result (``demand plan``); never raises."""
        volumes = self.root.volumes(
            in_container=self.launcher.in_container, base=self.configuration.volumes
        )
        return check_reuse(
            self.spec,
            volumes,
            self.configuration.context,
            runner=self._runner_kind(),
            store=SqliteRecords(self.root.reuse_records),
        )

    def _check_reuse(self, volumes: VolumeConfiguration, report: RunReport) -> ReuseCheck:
        """Before anything is staged: whether this result is already known (never raises)."""
        check = check_reuse(
            self.spec,
            volumes,
            self.configuration.context,
            runner=self._runner_kind(),
            store=SqliteRecords(self.root.reuse_records),
        )
        report.reuse_key, report.reuse = check.key, check.describe()
        return check

    def _deliver(self, check: ReuseCheck, plan: ExecutionPlan, report: RunReport) -> bool:
        """Copy the recorded outputs to this request's destinations; False (and the run goes
        on as a miss) when they changed meanwhile."""
        assert check.hit is not None
        try:
            deliver(check.hit, plan)
        except (ResultGoneError, DemandError, OSError) as exc:
            report.reuse = f"miss: {exc}"
            return False
        report.reused_from = check.hit.execution_id
        return True

    def _record(
        self,
        check: ReuseCheck,
        plan: ExecutionPlan,
        volumes: VolumeConfiguration,
        mounts: Sequence[EfsMount],
        report: RunReport,
    ) -> None:
        seen = SeenState.of(check)
        if seen is None:
            return
        report.reuse = record_result(
            seen,
            plan,
            mounts,
            ttl_days=self.configuration.context.reuse_ttl_days,
            store=SqliteRecords(self.root.reuse_records),
        )

    @contextmanager
    def _step(self, report: RunReport, name: str) -> Iterator[None]:
        started, started_at = time.monotonic(), now()
        try:
            yield
        except (DemandError, OSError, ValueError) as exc:
            report.failed_step, report.error = name, str(exc)
            raise StepFailedError(str(exc)) from exc
        except Interrupted:
            report.failed_step = name
            raise
        finally:
            report.seconds[name] = round(time.monotonic() - started, 3)
            report.steps.append(
                StepTiming(
                    name=name,
                    started_at=started_at,
                    ended_at=now(),
                    ok=report.failed_step != name,
                )
            )

    def _stage(
        self,
        plan: ExecutionPlan,
        stage: Direction,
        mounts: Sequence[EfsMount],
        summary: StageSummary,
        transfers: list[TransferRecord],
    ) -> None:
        """The stage as the state machine's Map runs it: its items, a few at once, each by the
        same stage step as the Lambda (with no deadline, so each item finishes in one go)."""
        progress = self.progress(stage, getattr(plan, stage))
        names = {item.remote: item.name for item in plan.inputs} | {
            item.remote: item.name for item in plan.outputs
        }

        def syncer(request: SyncRequest, **options: Any) -> SyncResult:
            started_at = now()
            result = sync(request, progress=progress.subscriber(request), **options)
            remote, local = (
                (request.source, request.destination)
                if stage == "stage_in"
                else (request.destination, request.source)
            )
            transfers.append(
                TransferRecord(
                    direction=stage,
                    name=names.get(remote, remote.rstrip("/").rsplit("/", 1)[-1]),
                    remote=remote,
                    started_at=started_at,
                    ended_at=now(),
                    bytes=result.bytes,
                    transferred=result.transferred,
                    skipped=result.skipped,
                    failed=result.failed,
                    cache_hit=result.cache_hit,
                    size=tree_size(Path(local.removeprefix("file://"))),
                )
            )
            return result

        items = sync_items(plan, stage)
        policy = StagingPolicy(
            volumes=self.root.volumes(
                in_container=self.launcher.in_container, base=self.configuration.volumes
            ),
            allowed_schemes=self.configuration.context.allowed_schemes,
            allowed_buckets=self.configuration.context.allowed_buckets,
            mirror_outputs=self.configuration.context.mirror_outputs,
        )

        def run(item: SyncItem) -> SyncItem:
            return run_item(item, policy, mounts, deadline=None, syncer=syncer)

        try:
            with ThreadPoolExecutor(max_workers=STAGING_WORKERS) as pool:
                done = pool.map(run, items)
                try:
                    for item in done:
                        summary.add(item)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
        finally:
            progress.close()

    def _run_job(self, plan: ExecutionPlan, mounts: Sequence[EfsMount], report: RunReport) -> int:
        log = log_path(plan, mounts)
        kept_log = self.root.logs / f"{plan.execution_id}.log"
        report.log_file = str(kept_log)
        try:
            with log.open("wb") as handle:
                return self.launcher.run(plan, mounts, handle)
        finally:
            # The working dir may be cleaned up; the log is kept beside the runs.
            try:
                kept_log.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, kept_log)
            except OSError:
                report.log_file = None

    def _clean_up(
        self,
        plan: ExecutionPlan,
        volumes: VolumeConfiguration,
        mounts: Sequence[EfsMount],
        report: RunReport,
        *,
        succeeded: bool,
    ) -> bool:
        """Apply the cleanup policy; whether the run still counts as succeeded."""
        started, started_at = time.monotonic(), now()
        try:
            if not self.keep:
                item = CleanupItem(execution_id=plan.execution_id, requests=plan.cleanup)
                clean_up_execution(item, volumes=volumes, mounts=mounts, succeeded=succeeded)
        except (DemandError, OSError, ValueError) as exc:
            if report.failed_step is None:
                report.failed_step, report.error = "cleanup", str(exc)
            succeeded = False
        finally:
            report.kept = Path(report.working_dir or "").exists()
            report.seconds["cleanup"] = round(time.monotonic() - started, 3)
            report.steps.append(
                StepTiming(
                    name="cleanup",
                    started_at=started_at,
                    ended_at=now(),
                    ok=report.failed_step != "cleanup",
                )
            )
        return succeeded

    def _remove_left_over(
        self, plan: ExecutionPlan, volumes: VolumeConfiguration, mounts: Sequence[EfsMount]
    ) -> None:
        """Remove the dirs a run of this execution id left when it never ended: by the cleanup
        step's own rules (within the execution's roots, never following a link out)."""
        working, tmp = plan.working_dir.efs_uri, plan.tmp_dir.efs_uri
        requests = [CleanupRequest(path=working)]
        if not tmp.startswith(f"{working}/"):  # on a tmp volume of its own
            requests.insert(0, CleanupRequest(path=tmp))
        item = CleanupItem(execution_id=plan.execution_id, requests=requests)
        clean_up_execution(item, volumes=volumes, mounts=mounts, succeeded=False)
