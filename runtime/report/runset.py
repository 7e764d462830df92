"""Many execution reports as one: a run set's counts, time, cost, slowest and failed rows.

Run sets themselves (one request, many rows) are issue 15; this aggregates any list of
:class:`ExecutionReport`, so a set's report is its rows' reports passed through here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from runtime.report.model import DurationBin, ExecutionReport, RunSetReport, RunSetRow

SLOWEST_ROWS = 10
# The failed rows listed in full; the count covers them all.
FAILED_ROWS = 50
MAX_BINS = 20


def _row(report: ExecutionReport) -> RunSetRow:
    return RunSetRow(
        execution_id=report.execution_id,
        status=report.status,
        seconds=report.seconds,
        usd=report.cost.total_usd,
        failed_step=report.failed_step,
        error=report.error,
    )


def duration_bins(seconds: Sequence[float], *, bins: int | None = None) -> list[DurationBin]:
    """Equal-width bins from the fastest to the slowest (about √n of them, at most 20)."""
    if not seconds:
        return []
    low, high = min(seconds), max(seconds)
    count = bins or max(1, min(MAX_BINS, math.ceil(math.sqrt(len(seconds)))))
    if high <= low:
        return [DurationBin(low_seconds=low, high_seconds=high, count=len(seconds))]
    width = (high - low) / count
    counts = Counter(min(count - 1, int((value - low) / width)) for value in seconds)
    return [
        DurationBin(
            low_seconds=round(low + i * width, 3),
            high_seconds=round(low + (i + 1) * width, 3),
            count=counts.get(i, 0),
        )
        for i in range(count)
    ]


def aggregate(set_id: str, reports: Sequence[ExecutionReport]) -> RunSetReport:
    rows = [_row(report) for report in reports]
    timed = [row for row in rows if row.seconds is not None]
    step_seconds: dict[str, float] = {}
    for report in reports:
        for step in report.steps:
            step_seconds[step.kind] = step_seconds.get(step.kind, 0.0) + step.seconds
    ends = [r.ended_at for r in reports if r.ended_at is not None]
    return RunSetReport(
        set_id=set_id,
        executions=len(reports),
        by_status=dict(Counter(row.status for row in rows)),
        started_at=min((r.started_at for r in reports), default=None),
        ended_at=max(ends) if ends and len(ends) == len(reports) else None,
        total_usd=round(sum(row.usd for row in rows), 8),
        staged_in_bytes=sum(r.staged_in_bytes for r in reports),
        staged_out_bytes=sum(r.staged_out_bytes for r in reports),
        cache_hits=sum(r.cache_hits for r in reports),
        step_seconds={kind: round(value, 3) for kind, value in step_seconds.items()},
        slowest=sorted(timed, key=lambda row: -(row.seconds or 0.0))[:SLOWEST_ROWS],
        failed=[row for row in rows if row.status != "SUCCEEDED"][:FAILED_ROWS],
        durations=duration_bins([row.seconds for row in timed if row.seconds is not None]),
        prices_as_of=reports[0].cost.prices_as_of if reports else "",
    )
