"""The report of a real local run, opened in headless Chromium as a person would open it.

`demand run` runs the word-count example; `demand report --json --html` writes its page and
prints its data; Chromium loads the page at a laptop's and a phone's size. The page must load
with no console error and no network request, show one timeline bar per step in time order,
show the JSON's figures, fit a phone's width, and paint a screenshot that is not blank.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from tests.browser.chromium import chromium, chromium_path, new_page

EXAMPLES = Path(__file__).parents[2] / "examples"
VIEWPORTS = {"laptop": (1280, 800, False), "phone": (390, 844, True)}
# Where to keep the screenshots for a person to look at (optional).
SCREENSHOTS_VARIABLE = "DEMAND_REPORT_SCREENSHOTS"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser_path() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def demand(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli.app", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real run of the word-count example, and its page and JSON."""
    work = tmp_path_factory.mktemp("report")
    shutil.copy(EXAMPLES / "word-count.yaml", work)
    shutil.copytree(EXAMPLES / "data", work / "data")
    root = work / "root"
    ran = demand("run", "word-count.yaml", "--root", str(root), cwd=work)
    assert ran.returncode == 0, ran.stderr
    page = work / "word-count.html"
    reported = demand(
        "report", "word-count", "--root", str(root), "--json", "--html", str(page), cwd=work
    )
    assert reported.returncode == 0, reported.stderr
    return page, json.loads(reported.stdout)


def at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


FACTS = """(() => {
  const bars = [...document.querySelectorAll('rect.bar.step')].map(r => {
    const box = r.getBoundingClientRect();
    return {kind: r.dataset.kind, index: Number(r.dataset.index),
            seconds: Number(r.dataset.seconds), left: box.left, width: box.width};
  });
  const figures = [...document.querySelectorAll('[data-json]')].map(e => ({
    path: e.dataset.json, value: e.dataset.value, text: e.textContent.trim()}));
  return {bars, figures, title: document.title,
          text: document.body.innerText,
          scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth};
})()"""


def non_background_share(path: Path) -> float:
    image = Image.open(path).convert("RGB")
    background = Image.new("RGB", image.size, image.getpixel((0, 0)))
    histogram = ImageChops.difference(image, background).convert("L").histogram()
    return sum(histogram[1:]) / (image.width * image.height)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_page_of_a_real_run_in_chromium(
    viewport: str,
    browser_path: str,
    report_page: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    page_file, data = report_page
    width, height, mobile = VIEWPORTS[viewport]
    with chromium(browser_path) as link:
        page = new_page(link)
        page.open(page_file.as_uri(), width=width, height=height, mobile=mobile)
        facts = page.evaluate(FACTS)
        shot = tmp_path / f"report-{viewport}.png"
        page.screenshot(shot)
        events = page.events

    assert events.console_errors == []
    # Self-contained: the page itself is the only thing loaded.
    assert events.requests == [page_file.as_uri()]

    # One bar per step, in the order and at the places of their times.
    steps = data["steps"]
    assert [step["kind"] for step in steps] == [
        "prepare",
        "stage_in",
        "run",
        "stage_out",
        "cleanup",
    ]
    bars = facts["bars"]
    assert [(bar["kind"], bar["seconds"]) for bar in bars] == [
        (step["kind"], step["seconds"]) for step in steps
    ]
    assert all(bar["width"] > 0 for bar in bars)
    lefts = [bar["left"] for bar in bars]
    assert lefts == sorted(lefts)

    # Every figure on the page is the JSON's, and reads as it.
    figures = facts["figures"]
    paths = {figure["path"] for figure in figures}
    assert {"seconds", "staged_in_bytes", "staged_out_bytes", "cache_hits", "cost.total_usd"} <= (
        paths
    )
    assert {f"steps.{i}.seconds" for i in range(len(steps))} <= paths
    assert {f"transfers.{i}.bytes" for i in range(len(data["transfers"]))} <= paths
    for figure in figures:
        expected = at(data, figure["path"])
        if figure["path"] == "status":
            assert figure["text"] == expected
            continue
        assert json.loads(figure["value"]) == expected, figure
        if figure["path"].endswith(("bytes", "_bytes")):
            # word-count moves less than a KiB per input: bytes are written out whole.
            assert figure["text"] == f"{expected} B", figure
        elif figure["path"].endswith("seconds") and expected is not None:
            assert abs(float(figure["text"].split()[0]) - expected) <= 0.005, figure
        elif figure["path"].endswith("usd"):
            assert figure["text"].startswith("$" if expected else "$0.00"), figure
    assert data["status"] == "SUCCEEDED"
    assert "SUCCEEDED" in facts["text"]
    assert "estimate" in facts["text"].lower()
    assert data["execution_id"] in facts["title"]

    # Readable on a phone too: nothing wider than the screen (wide tables scroll in place).
    assert facts["scrollWidth"] <= facts["width"]

    share = non_background_share(shot)
    assert share > 0.05, f"the screenshot is almost blank ({share:.1%} painted)"
    keep = os.environ.get(SCREENSHOTS_VARIABLE)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
