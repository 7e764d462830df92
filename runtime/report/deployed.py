"""A report of a deployed execution from what AWS already records, and nothing else.

- Step Functions: the execution (status, error, cause) and its event history, with data: each
  state's span, the transitions, each Lambda's duration, and the results the sync steps return
  (what each stage-in and stage-out item moved, its cache hits);
- Batch: DescribeJobs of the job the history names (created, each attempt's start, stop,
  exit code and reason: a Spot reclamation is an attempt that ended with "Host EC2 …");
  DescribeJobQueues and DescribeComputeEnvironments for whether its queue runs on Spot;
- Lambda: each step function's memory size, for the GB-seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runtime import contract
from runtime.cloud.errors import ExecutionNotFoundError
from runtime.cloud.history import batch_job_id, failed_step
from runtime.cloud.stack import DeployedEnvironment
from runtime.report.cost import estimate_deployed
from runtime.report.model import (
    Attempt,
    Capacity,
    ExecutionReport,
    JobFacts,
    Step,
    StepKind,
    Transfer,
)
from runtime.steps.failure import explained

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_stepfunctions import SFNClient

Event = Mapping[str, Any]
# A page holds 1000 events; an execution with thousands of syncs has a few pages.
MAX_HISTORY_PAGES = 50
# A function whose memory cannot be read is counted at the steps' usual size.
DEFAULT_LAMBDA_MEMORY_MB = 1024
# How Batch ends an attempt whose instance went away: a Spot reclamation (the plan retries it).
SPOT_RECLAIMED_PREFIX = "Host EC2"

# The state machine's states (infra/constructs/orchestration.py) as timeline steps.
_STATES: dict[str, tuple[str, StepKind]] = {
    "Prepare": ("Prepare", "prepare"),
    "Register": ("Register", "register"),
    "Stage in": ("Stage in", "stage_in"),
    "Run job": ("Run job", "run"),
    "Stage out": ("Stage out", "stage_out"),
    "Cleanup": ("Cleanup", "cleanup"),
    contract.STATE_CLEANUP_AFTER_FAILURE: ("Cleanup after failure", "cleanup"),
}
_SPOT_TYPES = frozenset({"SPOT", "FARGATE_SPOT"})


@dataclass(frozen=True)
class ReportClients:
    stepfunctions: SFNClient
    batch: BatchClient
    lambda_: LambdaClient
    # For the instance type a job ran on (DescribeContainerInstances); None: not asked.
    ecs: Any = None


def _history(stepfunctions: SFNClient, execution_arn: str) -> list[Event]:
    """All events, oldest first, with their data (the sync steps' results are in it)."""
    request: dict[str, Any] = {
        "executionArn": execution_arn,
        "maxResults": 1000,
        "includeExecutionData": True,
    }
    events: list[Event] = []
    for _ in range(MAX_HISTORY_PAGES):
        page = stepfunctions.get_execution_history(**request)
        events += page["events"]
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return events


def _details(event: Event) -> Mapping[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}


def _json(text: object) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _explained(described: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The execution's error and cause, or for a job its queue cancelled, why it never ran."""
    return explained(described.get("error"), described.get("cause"))


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _millis(value: object) -> datetime | None:
    """Batch's times: milliseconds since the epoch."""
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, datetime):
        return _utc(value)
    return None


@dataclass(frozen=True)
class StateSpan:
    name: str
    entered: Event
    exited: Event | None
    ended_at: datetime


class History:
    """An execution's events, linked: which exit closes which entry, which Lambda ran where."""

    def __init__(self, events: Sequence[Event], stopped_at: datetime | None) -> None:
        self.events = list(events)
        self.by_id = {int(event["id"]): event for event in self.events}
        self.stopped_at = stopped_at

    def _back(self, event: Event) -> Iterator[Event]:
        """The events before ``event`` on its own branch, nearest first."""
        seen = 0
        current = self.by_id.get(int(event.get("previousEventId", 0)))
        while current is not None and seen < len(self.events):
            yield current
            seen += 1
            current = self.by_id.get(int(current.get("previousEventId", 0)))

    def spans(self) -> list[StateSpan]:
        """Each state entered, with the exit that closes it (None: it failed or is running)."""
        closes: dict[int, Event] = {}
        for event in self.events:
            if not event.get("type", "").endswith("StateExited"):
                continue
            name = _details(event).get("name")
            for earlier in self._back(event):
                if (
                    earlier.get("type", "").endswith("StateEntered")
                    and _details(earlier).get("name") == name
                    and int(earlier["id"]) not in closes
                ):
                    closes[int(earlier["id"])] = event
                    break
        failure_starts = [
            _utc(e["timestamp"])
            for e in self.events
            if e.get("type", "").endswith("StateEntered")
            and _details(e).get("name")
            in (contract.STATE_CLEANUP_AFTER_FAILURE, contract.STATE_FAIL)
        ]
        last = _utc(self.events[-1]["timestamp"]) if self.events else datetime.now(UTC)
        spans = []
        for event in self.events:
            if not event.get("type", "").endswith("StateEntered"):
                continue
            exited = closes.get(int(event["id"]))
            entered_at = _utc(event["timestamp"])
            if exited is not None:
                ended_at = _utc(exited["timestamp"])
            else:
                ended_at = min(
                    (t for t in failure_starts if t >= entered_at),
                    default=self.stopped_at or last,
                )
            spans.append(StateSpan(_details(event).get("name", ""), event, exited, ended_at))
        return spans

    def transitions(self) -> int:
        return sum(1 for e in self.events if e.get("type", "").endswith("StateEntered"))

    def lambda_runs(self) -> Iterator[tuple[str, float, Any, Any]]:
        """Each Lambda invocation: function ARN, seconds it ran, its input and its output."""
        scheduled: dict[int, Event] = {}
        started: dict[int, tuple[Event, Event]] = {}
        for event in self.events:
            kind = event.get("type", "")
            if kind == "LambdaFunctionScheduled":
                scheduled[int(event["id"])] = event
            elif kind == "LambdaFunctionStarted":
                first = scheduled.get(int(event.get("previousEventId", 0)))
                if first is not None:
                    started[int(event["id"])] = (first, event)
            elif kind.startswith("LambdaFunction") and kind != "LambdaFunctionStartFailed":
                pair = started.get(int(event.get("previousEventId", 0)))
                if pair is None:
                    continue
                first, start = pair
                seconds = (_utc(event["timestamp"]) - _utc(start["timestamp"])).total_seconds()
                yield (
                    str(_details(first).get("resource", "")),
                    max(0.0, seconds),
                    _json(_details(first).get("input")),
                    _json(_details(event).get("output")),
                )


def _merged(name: str, kind: StepKind, spans: Sequence[StateSpan]) -> Step:
    """A state run more than once (a sync loop's rounds) is one bar from first entry to end."""
    return Step(
        name=name,
        kind=kind,
        started_at=min(_utc(s.entered["timestamp"]) for s in spans),
        ended_at=max(s.ended_at for s in spans),
        ok=all(s.exited is not None for s in spans),
    )


def _item_transfer(item: Mapping[str, Any], started_at: datetime, ended_at: datetime) -> Transfer:
    direction = "stage_in" if item.get("direction") == "stage_in" else "stage_out"
    requests = item.get("requests") or []
    start, stop = int(item.get("start", 0)), int(item.get("stop", 0))
    if requests:
        first = requests[0]
        remote, local = (
            (first["source"], first["destination"])
            if direction == "stage_in"
            else (first["destination"], first["source"])
        )
        name = str(local).rstrip("/").rsplit("/", 1)[-1]
        if len(requests) > 1:
            name, remote = f"{name} and {len(requests) - 1} more", f"{remote} …"
    else:
        name, remote = f"requests {start}–{stop - 1}", "(listed in the stored plan)"
    return Transfer(
        direction=direction,
        name=name,
        remote=str(remote),
        started_at=started_at,
        ended_at=ended_at,
        bytes=int(item.get("bytes", 0)),
        transferred=int(item.get("transferred", 0)),
        skipped=int(item.get("skipped", 0)),
        cache_hit=int(item.get("cache_hits", 0)) > 0,
    )


def _transfers(history: History, spans: Sequence[StateSpan]) -> list[Transfer]:
    """Each sync item's final counts (they accumulate over rounds) and its time in all rounds."""
    rounds: dict[tuple[str, int], list[tuple[Mapping[str, Any], StateSpan]]] = {}
    for span in spans:
        if span.exited is None:
            continue
        item = _json(_details(span.exited).get("output"))
        if not isinstance(item, dict) or item.get("direction") not in ("stage_in", "stage_out"):
            continue
        key = (str(item["direction"]), int(item.get("start", 0)))
        rounds.setdefault(key, []).append((item, span))
    transfers = []
    for (_direction, _start), done in sorted(
        rounds.items(), key=lambda kv: (kv[0][0] != "stage_in", kv[0][1])
    ):
        item = done[-1][0]
        transfers.append(
            _item_transfer(
                item,
                min(_utc(span.entered["timestamp"]) for _, span in done),
                max(span.ended_at for _, span in done),
            )
        )
    del history
    return transfers


def _resources(job: Mapping[str, Any]) -> tuple[float | None, int | None, int]:
    container = job.get("container") or {}
    found = {r.get("type"): r.get("value") for r in container.get("resourceRequirements") or []}
    vcpus = found.get("VCPU", container.get("vcpus"))
    memory = found.get("MEMORY", container.get("memory"))
    return (
        float(vcpus) if vcpus is not None else None,
        int(memory) if memory is not None else None,
        int(found.get("GPU", 0) or 0),
    )


def queue_environments(batch: BatchClient, queue: str) -> list[Mapping[str, Any]]:
    """The compute environments behind ``queue``; none when Batch will not say."""
    try:
        queues = batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
        order = [
            e["computeEnvironment"] for q in queues for e in q.get("computeEnvironmentOrder", [])
        ]
        if not order:
            return []
        described = batch.describe_compute_environments(computeEnvironments=order)
    except (ClientError, BotoCoreError):
        return []
    return [dict(environment) for environment in described["computeEnvironments"]]


def queue_capacity(batch: BatchClient, queue: str) -> Capacity:
    return capacity_of(queue_environments(batch, queue))


def capacity_of(environments: Sequence[Mapping[str, Any]]) -> Capacity:
    """Spot, on-demand or either, from the queue's compute environments (on-demand if unknown:
    the higher price)."""
    types = {
        str(resources["type"])
        for e in environments
        if (resources := e.get("computeResources")) and resources.get("type")
    }
    if not types:
        return "on-demand"
    if types <= _SPOT_TYPES:
        return "spot"
    return "spot or on-demand" if types & _SPOT_TYPES else "on-demand"


def instance_type(
    ecs: Any, environments: Sequence[Mapping[str, Any]], job: Mapping[str, Any]
) -> str | None:
    """The instance type the job's last attempt ran on, where ECS still knows its container
    instance (Batch's own description names the container instance, not its type); None once
    the instance is gone, or without ECS's leave to ask."""
    attempts = job.get("attempts") or []
    arn = (attempts[-1].get("container") or {}).get("containerInstanceArn") if attempts else None
    if ecs is None or not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    for environment in environments:
        cluster = environment.get("ecsClusterArn")
        if not cluster:
            continue
        try:
            described = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])
        except (ClientError, BotoCoreError):
            continue
        for instance in described.get("containerInstances", []):
            for attribute in instance.get("attributes", []):
                if attribute.get("name") == "ecs.instance-type" and attribute.get("value"):
                    return str(attribute["value"])
    return None


def job_facts(job: Mapping[str, Any], capacity: Capacity) -> JobFacts:
    vcpus, memory, gpu = _resources(job)
    attempts = []
    for number, attempt in enumerate(job.get("attempts") or [], start=1):
        reason = attempt.get("statusReason") or (attempt.get("container") or {}).get("reason")
        attempts.append(
            Attempt(
                number=number,
                started_at=_millis(attempt.get("startedAt")),
                stopped_at=_millis(attempt.get("stoppedAt")),
                exit_code=(attempt.get("container") or {}).get("exitCode"),
                reason=reason,
                spot_reclaimed=bool(reason and str(reason).startswith(SPOT_RECLAIMED_PREFIX)),
            )
        )
    if not attempts and _millis(job.get("startedAt")) is not None:
        # Running: Batch lists an attempt only once it has ended.
        attempts.append(Attempt(number=1, started_at=_millis(job.get("startedAt"))))
    return JobFacts(
        job_id=job.get("jobId"),
        queue=str(job.get("jobQueue", "")).rsplit("/", 1)[-1] or None,
        image=(job.get("container") or {}).get("image"),
        vcpus=vcpus,
        memory_mib=memory,
        gpu=gpu,
        capacity=capacity,
        submitted_at=_millis(job.get("createdAt")),
        attempts=attempts,
    )


def job_steps(job: JobFacts, run_span: Step | None, now: datetime) -> list[Step]:
    """Queued (submitted → first attempt started), then one bar per attempt."""
    steps = []
    first = job.attempts[0].started_at if job.attempts else None
    submitted = job.submitted_at or (run_span.started_at if run_span else None)
    if submitted is not None:
        steps.append(
            Step(name="Queued", kind="queued", started_at=submitted, ended_at=first or now)
        )
    for attempt in job.attempts:
        if attempt.started_at is None:
            continue
        note = None
        if attempt.spot_reclaimed:
            note = f"Spot reclaimed: {attempt.reason}"
        elif attempt.exit_code not in (None, 0):
            note = f"exit code {attempt.exit_code}" + (
                f": {attempt.reason}" if attempt.reason else ""
            )
        steps.append(
            Step(
                name=f"Attempt {attempt.number}",
                kind="attempt",
                started_at=attempt.started_at,
                ended_at=attempt.stopped_at or now,
                ok=attempt.exit_code in (None, 0) and not attempt.spot_reclaimed,
                note=note,
            )
        )
    return steps


def _memory(lambda_: LambdaClient, function: str, cache: dict[str, int]) -> int:
    if function not in cache:
        try:
            cache[function] = int(
                lambda_.get_function_configuration(FunctionName=function).get(
                    "MemorySize", DEFAULT_LAMBDA_MEMORY_MB
                )
            )
        except (ClientError, BotoCoreError):
            cache[function] = DEFAULT_LAMBDA_MEMORY_MB
    return cache[function]


def deployed_report(
    environment: DeployedEnvironment, execution_id: str, clients: ReportClients
) -> ExecutionReport:
    arn = environment.execution_arn(execution_id)
    try:
        described = clients.stepfunctions.describe_execution(executionArn=arn)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in (
            "ExecutionDoesNotExist",
            "InvalidArn",
        ):
            raise ExecutionNotFoundError(
                f"no execution {execution_id!r} in environment {environment.name!r}"
            ) from None
        raise
    stopped_at = _utc(described["stopDate"]) if described.get("stopDate") else None
    history = History(_history(clients.stepfunctions, arn), stopped_at)
    now = stopped_at or datetime.now(UTC)
    spans = history.spans()
    by_state: dict[str, list[StateSpan]] = {}
    for span in spans:
        by_state.setdefault(span.name, []).append(span)
    steps = [
        _merged(name, kind, by_state[state])
        for state, (name, kind) in _STATES.items()
        if state in by_state
    ]
    job_id = batch_job_id(reversed(history.events))
    job: JobFacts | None = None
    if job_id is not None:
        described_jobs = clients.batch.describe_jobs(jobs=[job_id]).get("jobs", [])
        if described_jobs:
            raw = described_jobs[0]
            environments = queue_environments(clients.batch, str(raw.get("jobQueue", "")))
            job = job_facts(raw, capacity_of(environments)).model_copy(
                update={"instance_type": instance_type(clients.ecs, environments, raw)}
            )
    run_span = next((s for s in steps if s.kind == "run"), None)
    if job is not None and run_span is not None:
        # The job's own times say more than the state that waited for it.
        steps.remove(run_span)
        steps += job_steps(job, run_span, now)
    steps.sort(key=lambda s: (s.started_at, s.kind != "register"))
    memory: dict[str, int] = {}
    gb_seconds, requests = 0.0, 0
    for function, seconds, _input, _output in history.lambda_runs():
        requests += 1
        gb_seconds += seconds * _memory(clients.lambda_, function, memory) / 1024
    transfers = _transfers(history, spans)
    state = described["status"]
    newest_first = list(reversed(history.events))
    links = {"execution": arn}
    if job_id:
        links["Batch job"] = job_id
    return ExecutionReport(
        execution_id=execution_id,
        where=f"environment {environment.name}",
        status=state,
        started_at=_utc(described["startDate"]),
        ended_at=stopped_at,
        failed_step=failed_step(newest_first) if state == "FAILED" else None,
        error=": ".join(part for part in _explained(described) if part) or None,
        exit_code=job.attempts[-1].exit_code if job and job.attempts else None,
        steps=steps,
        transfers=transfers,
        job=job,
        cost=estimate_deployed(
            job=job,
            transitions=history.transitions(),
            lambda_gb_seconds=round(gb_seconds, 3),
            lambda_requests=requests,
            transfers=transfers,
        ),
        links=links,
    )
