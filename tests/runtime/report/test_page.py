"""The page as text: self-contained, hostile text escaped, every figure tied to the JSON."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from runtime.report.html import duration, render_execution, size, usd
from runtime.report.model import Attempt
from tests.runtime.report.reports import at, execution_report


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parsed(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


def test_the_page_needs_nothing_from_outside() -> None:
    page = render_execution(execution_report())
    tags = parsed(page)
    assert not [t for t in tags if t[0] in ("link", "img", "iframe", "object", "embed")]
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "report-data"}]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    assert "url(" not in page


def test_hostile_text_is_text() -> None:
    report = execution_report(
        "x",
        status="FAILED",
        error='</script><script>alert(1)</script><img src=x onerror="alert(2)">',
    )
    page = render_execution(report)
    assert "<script>alert(1)" not in page
    assert "<img" not in page
    assert [tag for tag, _ in parsed(page)].count("script") == 1
    # The embedded JSON is still the report's.
    data = re.search(r'id="report-data">(.*)</script>', page, re.S)
    assert data is not None
    assert json.loads(data.group(1))["error"] == report.error


def test_one_bar_per_step_and_every_figure_is_the_reports() -> None:
    report = execution_report(job_seconds=125)
    page = render_execution(report)
    tags = parsed(page)
    bars = [attrs for tag, attrs in tags if tag == "rect" and "step" in (attrs["class"] or "")]
    assert [b["data-kind"] for b in bars] == [step.kind for step in report.steps]
    data = json.loads(report.model_dump_json())
    figures = [attrs for _, attrs in tags if "data-json" in attrs and "data-value" in attrs]
    assert len(figures) > 10
    for attrs in figures:
        value: Any = data
        for part in str(attrs["data-json"]).split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        assert json.loads(str(attrs["data-value"])) == value
    assert "2 min 05 s" in page  # the job's attempt
    assert "estimate" in page.lower()


def test_a_spot_reclamation_is_an_attempt_of_its_own() -> None:
    attempts = [
        Attempt(
            number=1,
            started_at=at(10),
            stopped_at=at(40),
            reason="Host EC2 (instance i-0abc) terminated.",
            spot_reclaimed=True,
        ),
        Attempt(number=2, started_at=at(50), stopped_at=at(70), exit_code=0),
    ]
    page = render_execution(execution_report(attempts=attempts))
    assert "Spot reclaimed" in page
    assert "Host EC2 (instance i-0abc) terminated." in page


def test_figures_read_as_people_write_them() -> None:
    assert duration(0.256) == "0.26 s"
    assert duration(42.04) == "42.0 s"
    assert duration(3725) == "1 h 02 min"
    assert size(512) == "512 B"
    assert size(3 * 2**20) == "3.0 MiB"
    assert usd(0) == "$0.00"
    assert usd(0.0001234) == "$0.000123"
    assert usd(12.5) == "$12.50"


def test_thousands_of_inputs_stay_a_page() -> None:
    report = execution_report()
    many = report.transfers[0]
    report.transfers = [many.model_copy(update={"name": f"in-{i}"}) for i in range(5000)]
    page = render_execution(report)
    tags = parsed(page)
    assert sum(1 for tag, a in tags if tag == "rect" and "transfer" in (a["class"] or "")) == 12
    assert "+ 4,988 more" in page
    assert sum(1 for tag, _ in tags if tag == "tr") < 600
    assert "The first 500 of 5,000" in page
    # Still one bar per step.
    assert sum(1 for tag, a in tags if tag == "rect" and "step" in (a["class"] or "")) == len(
        report.steps
    )
