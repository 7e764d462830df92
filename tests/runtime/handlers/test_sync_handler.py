from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.handlers import sync
from runtime.plan.builder import shared_cache_key
from runtime.steps.stage import SyncItem
from runtime.sync.model import SyncRequest
from tests.lambda_context import FakeLambdaContext

OBJECTS = 300


@pytest.fixture
def prefix(aws: str) -> str:
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket="inputs", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for i in range(OBJECTS):
        s3.put_object(Bucket="inputs", Key=f"many/{i:04}.txt", Body=f"object {i}\n".encode())
    return "s3://inputs/many/"


def item(prefix: str) -> dict[str, Any]:
    entry = f"efs://fs-test:/shared/{shared_cache_key(prefix)}/many"
    request = SyncRequest(source=prefix, destination=entry, cached=True)
    return SyncItem(
        execution_id="exec-1", direction="stage_in", start=0, stop=1, requests=[request]
    ).model_dump()


def test_short_deadline_returns_a_continuation_that_the_next_call_finishes(
    efs: Path, prefix: str, object_reads: Counter[str]
) -> None:
    # 5 s of the budget are kept in reserve: about 0.1 s of work in the first call.
    first = sync.handler(item(prefix), FakeLambdaContext(budget=5.1))
    assert first["done"] is False
    assert first["cursor"]
    assert first["transferred"] < OBJECTS
    second = sync.handler(first, FakeLambdaContext())
    assert second["done"] is True
    assert second["transferred"] == OBJECTS
    assert sorted(
        p.name
        for p in (efs / "shared" / shared_cache_key("s3://inputs/many/") / "many").iterdir()
        if not p.name.startswith(".")
    ) == [f"{i:04}.txt" for i in range(OBJECTS)]
    # Resumed, not restarted: only transfers cut off by the deadline were read again.
    assert len(object_reads) == OBJECTS
    assert sum(object_reads.values()) < 2 * OBJECTS


def test_a_done_item_returns_at_once(efs: Path, prefix: str) -> None:
    done = item(prefix) | {"done": True}
    assert sync.handler(done, FakeLambdaContext()) == SyncItem.model_validate(done).model_dump()
    assert not (efs / "shared").exists()
