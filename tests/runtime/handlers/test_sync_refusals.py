"""The sync step runs only what the execution may do, whatever item it is handed.

Each case is an item the state machine would never send — as a forged plan, a wrong state or
a bug would — and each must be refused before any byte moves, naming the request.
"""

from __future__ import annotations

import json
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

SHARED = "efs://fs-test:/shared/0123abcd/in.txt"

# (direction, source, destination, delete, what the refusal says)
HOSTILE: list[tuple[str, str, str, bool, str]] = [
    # stage-out reading another execution's working dir, or the Lambda's own file system
    ("stage_out", "efs://fs-test:/scratch/exec-2/out.txt", "s3://bucket/x", False, "outside"),
    ("stage_out", "efs://fs-test:/control/exec-1/plan.json", "s3://bucket/x", False, "outside"),
    ("stage_out", "/etc/passwd", "s3://bucket/x", False, "outside"),
    ("stage_out", "efs://fs-test:/shared/0123abcd/in.txt", "s3://bucket/x", False, "outside"),
    # stage-out to a file:// path (the steps' own file system) or with delete
    ("stage_out", "efs://fs-test:/scratch/exec-1/out.txt", "file:///tmp/x", False, "stages only"),
    ("stage_out", "efs://fs-test:/scratch/exec-1/", "s3://other-user/", True, "delete"),
    # stage-in writing into another execution, the control data, or outside EFS
    ("stage_in", "s3://bucket/in.txt", "efs://fs-test:/scratch/exec-2/in.txt", False, "outside"),
    ("stage_in", "s3://bucket/in.txt", "efs://fs-test:/control/exec-1/plan.json", False, "outside"),
    ("stage_in", "s3://bucket/in.txt", "/var/task/runtime/x.py", False, "outside"),
    ("stage_in", "s3://bucket/in.txt", "efs://fs-other:/shared/x", False, "outside"),
    ("stage_in", "file:///etc/passwd", SHARED, False, "stages only"),
    ("stage_in", "s3://bucket/in/", "efs://fs-test:/shared/", True, "delete"),
    # stage-in into another source's cache entry: a hit for that source would serve these bytes
    ("stage_in", "s3://bucket/evil.txt", SHARED, False, "not the cache entry"),
]


@pytest.mark.parametrize(("direction", "source", "destination", "delete", "says"), HOSTILE)
def test_a_request_outside_the_execution_is_refused(
    efs: Path, direction: str, source: str, destination: str, delete: bool, says: str
) -> None:
    (efs / "scratch/exec-2").mkdir(parents=True)
    (efs / "scratch/exec-2/out.txt").write_text("another user's result")
    request = SyncRequest(source=source, destination=destination, delete=delete)
    event = SyncItem(
        execution_id="exec-1", direction=direction, start=0, stop=1, requests=[request]
    ).model_dump()
    with pytest.raises(StagingRefusedError, match=says) as refused:
        sync_handler.handler(event, FakeLambdaContext())
    assert f"{direction} request 0 of exec-1" in str(refused.value)
    assert (efs / "scratch/exec-2/out.txt").read_text() == "another user's result"
    assert not (efs / "shared").exists()


def test_a_stored_plan_is_read_from_the_control_dir_never_the_working_dir(
    efs: Path, aws: str
) -> None:
    """A large plan's items name no path: a forged plan in the working dir changes nothing."""
    s3 = boto3.client("s3", region_name="us-west-2")
    for bucket in ("bucket", "victim"):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    s3.put_object(Bucket="victim", Key="data/precious.txt", Body=b"keep me")
    outputs = {f"out_{i}": f"results/{i:04}-{'x' * 40}.txt" for i in range(800)}
    view = prepare.handler(
        {"spec": spec_dict(command=["run"], params=outputs, inputs=[], outputs=list(outputs))},
        FakeLambdaContext(),
    )
    items: list[dict[str, Any]] = view["stage_out"]["items"]
    assert items[0]["requests"] is None  # refers to the stored plan
    working = efs / "scratch/exec-1"
    for i in range(800):
        (working / f"results/{i:04}-{'x' * 40}.txt").write_text(f"result {i}")
    # What a hostile job leaves where the plan used to be kept: its first stage-out request
    # mirrors an empty directory onto another user's prefix, deleting what is there.
    forged = json.loads((efs / "control/exec-1/plan.json").read_text())
    (working / "empty").mkdir()
    forged["stage_out"][0] = SyncRequest(
        source="efs://fs-test:/scratch/exec-1/empty/", destination="s3://victim/data/", delete=True
    )
    (working / ".demand").mkdir(exist_ok=True)
    (working / ".demand/plan.json").write_text(json.dumps(forged, default=vars))

    for item in items:
        assert sync_handler.handler(item, FakeLambdaContext())["done"] is True
    assert s3.get_object(Bucket="victim", Key="data/precious.txt")["Body"].read() == b"keep me"
    uploaded = s3.list_objects_v2(Bucket="bucket", Prefix="results/")["KeyCount"]
    assert uploaded == 800


def test_an_output_under_a_directory_the_job_turned_into_a_link_is_refused(efs: Path) -> None:
    """``results/x.txt`` where the job made ``results`` a link to the step's own root."""
    working = efs / "scratch/exec-1"
    working.mkdir(parents=True)
    (efs / "host-secret.txt").write_text("the step's own file")
    (working / "results").symlink_to(efs)
    request = SyncRequest(
        source="efs://fs-test:/scratch/exec-1/results/host-secret.txt", destination="s3://bucket/x"
    )
    event = SyncItem(
        execution_id="exec-1", direction="stage_out", start=0, stop=1, requests=[request]
    ).model_dump()
    with pytest.raises(StagingRefusedError, match="results is a link"):
        sync_handler.handler(event, FakeLambdaContext())
