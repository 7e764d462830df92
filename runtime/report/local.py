"""A report of a local run, from the record ``demand run`` keeps (runtime/local/record.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from runtime.errors import DemandError
from runtime.local.record import run_record_path
from runtime.local.root import LocalRoot
from runtime.local.runner import RunReport
from runtime.report.cost import estimate_local
from runtime.report.model import Attempt, ExecutionReport, JobFacts, Step, StepKind, Transfer

# The local runner's step names, as the timeline calls them.
_STEP_NAMES: dict[str, tuple[str, StepKind]] = {
    "prepare": ("Prepare", "prepare"),
    "stage_in": ("Stage in", "stage_in"),
    "run": ("Run job", "run"),
    "stage_out": ("Stage out", "stage_out"),
    "cleanup": ("Cleanup", "cleanup"),
}
# Read at most this much of a record: a few thousand transfers fit many times over.
MAX_RECORD_BYTES = 64 * 2**20


class RunRecordError(DemandError):
    """No record of that run, or one that cannot be read."""


def read_run_record(root: LocalRoot, execution_id: str) -> RunReport:
    if not execution_id or "/" in execution_id or execution_id.startswith("."):
        raise RunRecordError(f"{execution_id!r} is not an execution id")
    path = run_record_path(root.runs, execution_id)
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        raise RunRecordError(
            f"no local run of {execution_id!r} under {root.path} (no {path}): run it with "
            "'demand run', or pass --env for a deployed execution"
        ) from None
    except OSError as exc:
        raise RunRecordError(f"{path}: {exc.strerror or exc}") from None
    if len(text) > MAX_RECORD_BYTES:
        raise RunRecordError(f"{path}: larger than {MAX_RECORD_BYTES} bytes")
    try:
        record = RunReport.model_validate_json(text)
    except ValidationError as exc:
        raise RunRecordError(f"{path}: not a run record ({exc.error_count()} problems)") from None
    if record.started_at is None or not record.steps:
        raise RunRecordError(f"{path}: written by an older demand run without step times")
    return record


def local_report(record: RunReport) -> ExecutionReport:
    assert record.started_at is not None  # read_run_record checked it
    steps = [
        Step(
            name=_STEP_NAMES.get(step.name, (step.name, "run"))[0],
            kind=_STEP_NAMES.get(step.name, (step.name, "run"))[1],
            started_at=step.started_at,
            ended_at=step.ended_at,
            # The job's step ends before its exit code is judged: the record's failed step says.
            ok=step.ok and step.name != record.failed_step,
            note=(
                f"exit code {record.exit_code}"
                if step.name == "run" and record.failed_step == "run"
                else None
            ),
        )
        for step in record.steps
    ]
    run = next((step for step in record.steps if step.name == "run"), None)
    resources = record.resources
    job = JobFacts(
        image=record.image,
        vcpus=resources.vcpus if resources else None,
        memory_mib=resources.memory if resources else None,
        gpu=resources.gpu if resources else 0,
        capacity="local",
        submitted_at=run.started_at if run else None,
        attempts=(
            [
                Attempt(
                    number=1,
                    started_at=run.started_at,
                    stopped_at=run.ended_at,
                    exit_code=record.exit_code if record.failed_step in (None, "run") else None,
                )
            ]
            if run is not None
            else []
        ),
    )
    # Inputs first, then outputs, each in the order they started.
    transfers = sorted(
        (Transfer.model_validate(transfer.model_dump()) for transfer in record.transfers),
        key=lambda t: (t.direction != "stage_in", t.started_at or record.started_at),
    )
    links = {"log": record.log_file} if record.log_file else {}
    if record.record_file:
        links["record"] = record.record_file
    return ExecutionReport(
        execution_id=record.execution_id,
        where="local" + (f" ({record.sandbox})" if record.sandbox else ""),
        status=record.status,
        started_at=record.started_at,
        ended_at=record.ended_at,
        failed_step=record.failed_step,
        error=record.error,
        exit_code=record.exit_code,
        steps=steps,
        transfers=transfers,
        job=job,
        cost=estimate_local(job=job, transfers=transfers),
        links=links,
    )


def report_of_local_run(root: Path, execution_id: str) -> ExecutionReport:
    return local_report(read_run_record(LocalRoot(root), execution_id))
