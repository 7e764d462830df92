"""Many execution reports aggregated: what a run set's page shows (issue 15 makes the sets)."""

from __future__ import annotations

import pytest

from runtime.report.html import render_run_set
from runtime.report.runset import aggregate, duration_bins
from tests.runtime.report.reports import execution_report


def test_a_set_counts_sums_and_picks_the_slowest_and_the_failed_rows() -> None:
    reports = [execution_report(f"row-{i}", job_seconds=10.0 * (i + 1)) for i in range(12)]
    reports[3] = execution_report("row-3", job_seconds=5, status="FAILED", error="exit code 3")
    result = aggregate("set-1", reports)
    assert result.executions == 12
    assert result.by_status == {"SUCCEEDED": 11, "FAILED": 1}
    assert [row.execution_id for row in result.failed] == ["row-3"]
    assert result.failed[0].error == "exit code 3"
    # The slowest first, at most ten of them.
    assert [row.execution_id for row in result.slowest][:3] == ["row-11", "row-10", "row-9"]
    assert len(result.slowest) == 10
    assert result.total_usd == pytest.approx(sum(r.cost.total_usd for r in reports))
    assert result.staged_in_bytes == 12 * 4 * 2**20
    assert result.step_seconds["prepare"] == pytest.approx(24.0)
    assert sum(b.count for b in result.durations) == 12
    assert result.started_at == min(r.started_at for r in reports)


def test_duration_bins_cover_every_row_once() -> None:
    values = [1.0, 2.0, 2.5, 9.0, 10.0]
    bins = duration_bins(values, bins=3)
    assert [b.count for b in bins] == [3, 0, 2]
    assert bins[0].low_seconds == 1.0
    assert bins[-1].high_seconds == 10.0
    assert duration_bins([]) == []
    assert [b.count for b in duration_bins([4.0, 4.0])] == [2]


def test_the_set_page_shows_the_failed_rows_and_the_distribution() -> None:
    reports = [execution_report(f"row-{i}", job_seconds=10.0 + i) for i in range(5)]
    reports.append(execution_report("bad-<row>", status="FAILED", error="<b>boom</b>"))
    page = render_run_set(aggregate("set-2", reports))
    assert "bad-&lt;row&gt;" in page
    assert "<b>boom</b>" not in page
    assert page.count('class="bar bin"') == len(aggregate("set-2", reports).durations)
    assert "estimate" in page
