"""Mirroring outputs in a deployed environment (DEMAND_MIRROR_OUTPUTS): the planned stage-out
deletes what the job did not produce at its own destination, and nothing else deletes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.handlers import prepare
from runtime.handlers import sync as sync_handler
from runtime.steps.stage import StagingRefusedError, SyncItem
from runtime.sync.model import SyncRequest
from tests.lambda_context import FakeLambdaContext
from tests.runtime.specs import spec_dict


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.fixture
def mirrored(efs: Path, aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DEMAND_MIRROR_OUTPUTS", "true")
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for key in ("results/out/stale.txt", "results/out/kept.bam", "results/out-old/x.txt"):
        s3.put_object(Bucket="bucket", Key=key, Body=b"earlier run")
    return s3


def test_the_planned_stage_out_mirrors_its_own_destination_only(efs: Path, mirrored: Any) -> None:
    output = {"local": "out", "remote": "s3://bucket/results/out/", "exclude": r".*\.bam"}
    spec = spec_dict(command=["run"], params={"output": output}, inputs=[])
    view = prepare.handler({"spec": spec}, FakeLambdaContext())
    [item] = view["stage_out"]["items"]
    assert item["requests"][0]["delete"] is True
    (efs / "scratch/exec-1/out").mkdir(parents=True)
    (efs / "scratch/exec-1/out/new.txt").write_text("this run")
    assert sync_handler.handler(item, FakeLambdaContext())["done"] is True
    # stale.txt goes; the excluded .bam is never deleted; the sibling prefix is untouched.
    assert keys(mirrored, "bucket") == [
        "results/out-old/x.txt",
        "results/out/kept.bam",
        "results/out/new.txt",
    ]


def test_a_deleting_request_not_in_the_stored_plan_is_refused(efs: Path, mirrored: Any) -> None:
    spec = spec_dict(command=["run"], params={"output": "out/"}, inputs=[])
    prepare.handler({"spec": spec}, FakeLambdaContext())
    (efs / "scratch/exec-1/empty").mkdir(parents=True)
    forged = SyncRequest(
        source="efs://fs-test:/scratch/exec-1/empty/",
        destination="s3://bucket/results/out-old/",
        delete=True,
    )
    event = SyncItem(
        execution_id="exec-1", direction="stage_out", start=0, stop=1, requests=[forged]
    ).model_dump()
    with pytest.raises(StagingRefusedError, match="not one of the stored plan's"):
        sync_handler.handler(event, FakeLambdaContext())
    assert "results/out-old/x.txt" in keys(mirrored, "bucket")


def test_stage_in_never_deletes_even_when_outputs_are_mirrored(efs: Path, mirrored: Any) -> None:
    request = SyncRequest(
        source="s3://bucket/results/", destination="efs://fs-test:/scratch/exec-1/in/", delete=True
    )
    event = SyncItem(
        execution_id="exec-1", direction="stage_in", start=0, stop=1, requests=[request]
    ).model_dump()
    with pytest.raises(StagingRefusedError, match="delete is not part of stage_in"):
        sync_handler.handler(event, FakeLambdaContext())
