"""Regular-expression filters, the kind a request's per-input / per-output filters become:
the established semantics (whole relative path, exclude wins, no include means everything),
evaluated by the engine itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.plan.builder import established_filters
from runtime.sync import sync
from runtime.sync.filters import PathFilter
from runtime.sync.model import SyncRequest

TREE = ["a.fastq", "sub/b.fastq", "sub/c.bam", "tmp/d.fastq", "e.txt", "x.fastq.gz"]


def established(relpath: str, include: list[str], exclude: list[str]) -> bool:
    """aibs_informatics_core.utils.filters._matches, restated."""
    import re

    if any(re.fullmatch(p, relpath) for p in exclude):
        return False
    return not include or any(re.fullmatch(p, relpath) for p in include)


@pytest.mark.parametrize(
    ("include", "exclude"),
    [
        ([], []),
        ([r".*\.fastq"], []),
        ([], [r".*\.bam", "tmp/.*"]),
        ([r".*\.fastq", r"e\..*"], [r"tmp/.*"]),
        (["fastq"], []),  # whole path: a fragment matches nothing
        ([r"sub/.*"], [r"sub/.*"]),  # exclude wins
    ],
)
def test_rules_select_what_the_established_filters_select(
    include: list[str], exclude: list[str]
) -> None:
    select = PathFilter(established_filters(include, exclude))
    assert [p for p in TREE if select(p)] == [p for p in TREE if established(p, include, exclude)]


def test_a_single_object_is_matched_by_its_name() -> None:
    rules = established_filters([r".*\.txt"], [])
    assert PathFilter(rules, single_name="notes.txt")("")
    assert not PathFilter(rules, single_name="notes.bin")("")
    # Globs keep their own rules for a single object (only the regex kinds see the name).
    assert PathFilter([("exclude", "*.txt")], single_name="notes.txt")("")


def test_a_bad_regular_expression_is_refused_by_the_request() -> None:
    with pytest.raises(ValueError, match="not a regular expression"):
        SyncRequest(source="/a", destination="/b", filters=(("include_regex", "("),))


def test_the_engine_transfers_only_the_selection(tmp_path: Path) -> None:
    source, destination = tmp_path / "src", tmp_path / "dst"
    for relpath in TREE:
        (source / relpath).parent.mkdir(parents=True, exist_ok=True)
        (source / relpath).write_text(relpath)
    request = SyncRequest(
        source=str(source),
        destination=str(destination),
        filters=established_filters([r".*\.fastq"], [r"tmp/.*"]),
    )
    result = sync(request)
    assert result.transferred == 2
    placed = sorted(str(p.relative_to(destination)) for p in destination.rglob("*") if p.is_file())
    assert placed == ["a.fastq", "sub/b.fastq"]


def test_mirroring_a_filtered_output_deletes_only_inside_its_destination(tmp_path: Path) -> None:
    source, destination = tmp_path / "src", tmp_path / "out" / "dst"
    neighbour = tmp_path / "out" / "dst-old" / "keep.txt"
    neighbour.parent.mkdir(parents=True)
    neighbour.write_text("keep")
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "b.bam").write_text("b")
    (destination / "sub").mkdir(parents=True)
    (destination / "stale.txt").write_text("old")
    (destination / "sub" / "b.bam").write_text("old")
    request = SyncRequest(
        source=str(source),
        destination=str(destination),
        filters=established_filters([], [r".*\.bam"]),
        delete=True,
    )
    result = sync(request)
    assert (result.transferred, result.deleted) == (1, 1)
    assert not (destination / "stale.txt").exists()
    # An excluded file at the destination is not deleted (the engine's rule for excluded paths).
    assert (destination / "sub" / "b.bam").read_text() == "old"
    assert neighbour.read_text() == "keep"
