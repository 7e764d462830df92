"""Cache pruning on entries the real stage-in made (moto S3 through the sync step), with the
stager lock, live executions' stored plans and the last-used stamp deciding what stays."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.errors import ConfigError
from runtime.handlers import cache_prune, prepare, sync
from runtime.plan.builder import shared_cache_key
from runtime.steps.cache_prune import (
    LAST_USED,
    CacheLayout,
    CachePruneRefusedError,
    PruneSettings,
    list_cache,
    prune_cache,
)
from runtime.steps.stage import SyncItem
from runtime.sync.cache import lock_path, record_path
from runtime.sync.lock import StagerLock
from runtime.sync.model import SyncRequest
from runtime.volumes import EfsMount, VolumeConfiguration
from tests.lambda_context import FakeLambdaContext
from tests.runtime.specs import spec_dict

DAY = 86400
SOURCES = {name: f"s3://inputs/{name}/" for name in ("old", "older", "fresh")}


@pytest.fixture
def staged(efs: Path, aws: str) -> dict[str, Path]:
    """Three prefixes staged into the cache by the sync step, as an execution stages them;
    each entry's directory by source name."""
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket="inputs", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for name in SOURCES:
        for i in range(3):
            s3.put_object(Bucket="inputs", Key=f"{name}/{i}.txt", Body=b"x" * 1000)
    for source in SOURCES.values():
        assert stage_in(source)["done"]
    entries = {name: efs / "shared" / shared_cache_key(source) for name, source in SOURCES.items()}
    now = time.time()
    for name, age_days in {"old": 40, "older": 50, "fresh": 1}.items():
        stamp = entries[name] / LAST_USED
        os.utime(stamp, (now - age_days * DAY, now - age_days * DAY))
    return entries


def stage_in(source: str, execution_id: str = "exec-9") -> dict[str, Any]:
    name = source.rstrip("/").rpartition("/")[2]
    request = SyncRequest(
        source=source,
        destination=f"efs://fs-test:/shared/{shared_cache_key(source)}/{name}",
        cached=True,
    )
    item = SyncItem(
        execution_id=execution_id, direction="stage_in", start=0, stop=1, requests=[request]
    )
    result: dict[str, Any] = sync.handler(item.model_dump(), FakeLambdaContext())
    return result


def layout(efs: Path) -> CacheLayout:
    volumes = VolumeConfiguration(file_system_id="fs-test")
    return CacheLayout.of(volumes, [EfsMount(file_system_id="fs-test", local_path=efs)])


THIRTY_DAYS = PruneSettings.of(30, None)


def data_files(entry: Path) -> list[str]:
    return sorted(p.name for p in entry.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_each_stage_in_stamps_its_entry_a_hit_too(staged: dict[str, Path]) -> None:
    stamp = staged["old"] / LAST_USED
    before = stamp.stat().st_mtime
    hit = stage_in(SOURCES["old"])
    assert hit["cache_hits"] == 1
    assert stamp.stat().st_mtime > before + 30 * DAY


def test_entries_unused_for_longer_than_the_setting_are_removed(
    efs: Path, staged: dict[str, Path]
) -> None:
    report = prune_cache(layout(efs), THIRTY_DAYS)
    assert sorted(str(e.source) for e in report.removed) == [SOURCES["old"], SOURCES["older"]]
    assert report.freed == 6000
    assert report.bytes_before == 9000
    assert report.bytes_after == 3000
    for name in ("old", "older"):
        # The lock file stays (a waiter may hold the old one); data, record and stamp go.
        assert [p.name for p in staged[name].iterdir()] == [lock_path(staged[name] / name).name]
    assert data_files(staged["fresh"]) == ["0.txt", "1.txt", "2.txt"]
    # Staged again from the source, not answered from anything left behind.
    again = stage_in(SOURCES["old"])
    assert again["cache_hits"] == 0
    assert again["transferred"] == 3


def test_an_entry_a_stager_holds_is_kept(efs: Path, staged: dict[str, Path]) -> None:
    lock = StagerLock(lock_path(staged["old"] / "old"))
    assert lock.try_acquire()
    try:
        report = prune_cache(layout(efs), THIRTY_DAYS)
    finally:
        lock.release()
    assert report.kept_locked == [staged["old"].name]
    assert [e.source for e in report.removed] == [SOURCES["older"]]
    assert data_files(staged["old"]) == ["0.txt", "1.txt", "2.txt"]
    assert record_path(staged["old"] / "old").exists()


def test_an_entry_a_live_execution_names_is_kept_and_still_hits(
    efs: Path, staged: dict[str, Path]
) -> None:
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket="bucket", Key="data/in.txt", Body=b"input")
    spec = spec_dict(params={"input": "s3://inputs/older/", "output": "out.txt", "level": 3})
    prepare.handler({"spec": spec}, FakeLambdaContext())  # stores /control/exec-1/plan.json
    report = prune_cache(layout(efs), THIRTY_DAYS)
    assert report.kept_in_use == [staged["older"].name]
    assert [e.source for e in report.removed] == [SOURCES["old"]]
    assert stage_in(SOURCES["older"], "exec-1")["cache_hits"] == 1  # its record is back


def test_an_entry_used_after_it_was_chosen_is_kept(
    efs: Path, staged: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stage-in that hit "old" just before its record was set aside stamps it meanwhile.
    original = CacheLayout.keys_in_use

    def hit_meanwhile(self: CacheLayout) -> set[str]:
        (staged["old"] / LAST_USED).touch()
        return original(self)

    monkeypatch.setattr(CacheLayout, "keys_in_use", hit_meanwhile)
    report = prune_cache(layout(efs), THIRTY_DAYS)
    assert report.kept_used_since == [staged["old"].name]
    assert record_path(staged["old"] / "old").exists()
    assert [e.source for e in report.removed] == [SOURCES["older"]]


def test_beyond_the_size_budget_the_least_recently_used_go(
    efs: Path, staged: dict[str, Path]
) -> None:
    report = prune_cache(layout(efs), PruneSettings.of(None, 5000 / 2**30))
    assert [e.source for e in report.removed] == [SOURCES["older"], SOURCES["old"]]
    report = prune_cache(layout(efs), PruneSettings.of(None, 5000 / 2**30))
    assert report.removed == []


def test_an_unreadable_plan_stops_the_pruning_and_changes_nothing(
    efs: Path, staged: dict[str, Path]
) -> None:
    (efs / "control/exec-7").mkdir(parents=True)
    (efs / "control/exec-7/plan.json").write_text("{not json")
    with pytest.raises(CachePruneRefusedError, match=r"control/exec-7/plan\.json: unreadable"):
        prune_cache(layout(efs), THIRTY_DAYS)
    for name in SOURCES:
        assert record_path(staged[name] / name).exists()
        assert data_files(staged[name]) == ["0.txt", "1.txt", "2.txt"]


def test_a_dry_run_and_a_listing_change_nothing(efs: Path, staged: dict[str, Path]) -> None:
    report = prune_cache(layout(efs), THIRTY_DAYS, dry_run=True)
    assert sorted(str(e.source) for e in report.removed) == [SOURCES["old"], SOURCES["older"]]
    listed = list_cache(layout(efs))
    assert [e.source for e in listed] == [SOURCES["older"], SOURCES["old"], SOURCES["fresh"]]
    assert all(e.complete and e.size == 3000 and not e.in_use for e in listed)
    for name in SOURCES:
        assert data_files(staged[name]) == ["0.txt", "1.txt", "2.txt"]


def test_the_handler_lists_and_prunes_with_its_settings(
    efs: Path, staged: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMAND_CACHE_MAX_UNUSED_DAYS", "45")
    listed = cache_prune.handler({"action": "list"}, FakeLambdaContext())
    assert listed["count"] == 3
    assert listed["bytes"] == 9000
    pruned = cache_prune.handler({"action": "prune"}, FakeLambdaContext())
    assert [e["source"] for e in pruned["removed"]] == [SOURCES["older"]]
    # An operator's invocation may go further for one run.
    pruned = cache_prune.handler({"max_unused_days": 0}, FakeLambdaContext())
    assert sorted(e["source"] for e in pruned["removed"]) == [SOURCES["fresh"], SOURCES["old"]]


def test_the_handler_refuses_a_bad_setting_naming_the_variable(
    efs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMAND_CACHE_MAX_UNUSED_DAYS", "soon")
    with pytest.raises(ConfigError, match="DEMAND_CACHE_MAX_UNUSED_DAYS"):
        cache_prune.handler({"action": "prune"}, FakeLambdaContext())
