"""The report's data: what ``demand report --json`` prints and the HTML page shows.

One :class:`ExecutionReport` per execution, local or deployed, in one shape; a
:class:`RunSetReport` aggregates many of them (runtime/report/runset.py). Times are UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field

REPORT_SCHEMA_VERSION = 1

StepKind = Literal[
    "prepare", "register", "stage_in", "queued", "attempt", "run", "stage_out", "cleanup"
]
Capacity = Literal["local", "on-demand", "spot", "spot or on-demand"]


def _seconds(started_at: datetime, ended_at: datetime) -> float:
    return round(max(0.0, (ended_at - started_at).total_seconds()), 3)


class Step(BaseModel):
    """One bar of the timeline: a step, the job's time queued, or one attempt of the job."""

    name: str
    kind: StepKind
    started_at: datetime
    ended_at: datetime
    ok: bool = True
    # Why it ended as it did, when that is worth a line: "Spot reclaimed: Host EC2 … terminated".
    note: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds(self) -> float:
        return _seconds(self.started_at, self.ended_at)


class Transfer(BaseModel):
    """One input staged in or output staged out (or, deployed, one Map item of several)."""

    direction: Literal["stage_in", "stage_out"]
    name: str
    remote: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    bytes: int = 0  # moved: 0 for a cache hit or objects already current
    transferred: int = 0
    skipped: int = 0  # already current: their bodies were not read
    failed: int = 0
    cache_hit: bool = False
    size: int | None = None  # bytes in place afterwards, where known
    # An output reused from an earlier execution's result (issue 15): that execution's id.
    reused_from: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def objects(self) -> int:
        return self.transferred + self.skipped

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return _seconds(self.started_at, self.ended_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """Bytes per second moved; None when nothing was moved or the time is not known."""
        seconds = self.seconds
        if not self.bytes or not seconds:
            return None
        return round(self.bytes / seconds, 1)


class Attempt(BaseModel):
    number: int
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    spot_reclaimed: bool = False


class JobFacts(BaseModel):
    """What the job asked for and where it ran."""

    job_id: str | None = None
    queue: str | None = None
    image: str | None = None
    vcpus: float | None = None
    memory_mib: int | None = None
    gpu: int = 0
    instance_type: str | None = None  # where Batch reports it
    capacity: Capacity = "on-demand"
    submitted_at: datetime | None = None
    attempts: list[Attempt] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def running_seconds(self) -> float:
        """Seconds the job's attempts ran, all of them: each one is paid for."""
        return round(
            sum(
                _seconds(a.started_at, a.stopped_at)
                for a in self.attempts
                if a.started_at is not None and a.stopped_at is not None
            ),
            3,
        )


class CostLine(BaseModel):
    item: str
    quantity: float
    unit: str
    unit_usd: float
    usd: float
    note: str | None = None


class CostEstimate(BaseModel):
    """An estimate from list prices (runtime/report/prices.py), never a bill."""

    lines: list[CostLine] = Field(default_factory=list)
    total_usd: float = 0.0
    prices_as_of: str
    prices_source: str
    region: str
    # A figure beside the total, not in it: a local run's price on AWS Batch, say.
    aside: str | None = None


class ExecutionReport(BaseModel):
    schema_version: int = REPORT_SCHEMA_VERSION
    kind: Literal["execution"] = "execution"
    execution_id: str
    where: str  # "local" or "environment <name>"
    status: str  # SUCCEEDED, FAILED, RUNNING, TIMED_OUT, ABORTED
    started_at: datetime
    ended_at: datetime | None = None
    failed_step: str | None = None
    error: str | None = None
    exit_code: int | None = None
    steps: list[Step] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)
    job: JobFacts | None = None
    cost: CostEstimate
    # Where the details live: the log file or stream, the state machine execution.
    links: dict[str, str] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return _seconds(self.started_at, self.ended_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def staged_in_bytes(self) -> int:
        return sum(t.bytes for t in self.transfers if t.direction == "stage_in")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def staged_out_bytes(self) -> int:
        return sum(t.bytes for t in self.transfers if t.direction == "stage_out")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cache_hits(self) -> int:
        return sum(t.cache_hit for t in self.transfers)


class RunSetRow(BaseModel):
    """One execution of a set, as the set's tables show it."""

    execution_id: str
    status: str
    seconds: float | None
    usd: float
    failed_step: str | None = None
    error: str | None = None


class DurationBin(BaseModel):
    low_seconds: float
    high_seconds: float
    count: int


class RunSetReport(BaseModel):
    """Many executions aggregated (a run set of issue 15, or any list of execution reports)."""

    schema_version: int = REPORT_SCHEMA_VERSION
    kind: Literal["run_set"] = "run_set"
    set_id: str
    executions: int
    by_status: dict[str, int]
    started_at: datetime | None
    ended_at: datetime | None
    total_usd: float
    staged_in_bytes: int
    staged_out_bytes: int
    cache_hits: int
    # Seconds of each step kind, summed over the rows: where the set's time went.
    step_seconds: dict[str, float]
    slowest: list[RunSetRow]
    failed: list[RunSetRow]
    durations: list[DurationBin]
    prices_as_of: str
