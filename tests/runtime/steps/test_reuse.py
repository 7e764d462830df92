"""Results reused by the deployed steps: Prepare checks and delivers, Cleanup records; the
records in DynamoDB through moto."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.plan.configuration import ContextConfiguration, PlanningConfiguration
from runtime.reuse.dynamodb_records import DynamoDbRecords
from runtime.reuse.lookup import SeenState
from runtime.reuse.records import ReuseRecord
from runtime.steps.prepare import prepare_execution
from runtime.steps.reuse import ReuseAccess, after_stage_out
from runtime.volumes import EfsMount, VolumeConfiguration

TABLE = "demand-test-reuse"
IMAGE = "repo/tool@sha256:" + "d" * 64
CONFIGURATION = PlanningConfiguration(
    volumes=VolumeConfiguration(file_system_id="fs-12345678"),
    context=ContextConfiguration(allowed_schemes=frozenset({"s3"}), default_job_queue="queue"),
)


def request(execution_id: str, prefix: str = "s3://outputs/shared/", **params: Any) -> Any:
    return {
        "execution_id": execution_id,
        "execution_image": IMAGE,
        "execution_parameters": {
            "command": ["tool", "${data}", "${out}"],
            "params": {"data": "s3://inputs/data.txt", "out": "out.txt"} | params,
            "inputs": ["data"],
            "outputs": ["out"],
            "output_s3_prefix": prefix,
        },
    }


@pytest.fixture
def access(aws: str) -> ReuseAccess:
    s3 = boto3.client("s3", region_name="us-west-2")
    for bucket in ("inputs", "outputs"):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    s3.put_object(Bucket="inputs", Key="data.txt", Body=b"input")
    dynamodb = boto3.client("dynamodb", region_name="us-west-2")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "reuse_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "reuse_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return ReuseAccess(store=DynamoDbRecords(TABLE, dynamodb), s3_client=s3)


def mounts(root: Path) -> list[EfsMount]:
    return [EfsMount(file_system_id="fs-12345678", local_path=root)]


def run_to_the_end(root: Path, access: ReuseAccess, execution_id: str, **params: Any) -> str:
    """Prepare, then what the job and stage-out would do, then the Cleanup's record."""
    view = prepare_execution(
        request(execution_id, **params), CONFIGURATION, mounts(root), reuse=access
    )
    assert view["reused_from"] is None
    (root / "scratch" / execution_id / "out.txt").write_bytes(b"result")
    access.s3_client.put_object(Bucket="outputs", Key="shared/out.txt", Body=b"result")
    seen = SeenState.model_validate(view["reuse"])
    return after_stage_out(seen, execution_id, CONFIGURATION, mounts(root), access)


def test_prepare_reuses_what_cleanup_recorded(
    tmp_path: Path, access: ReuseAccess, object_reads: Counter[str]
) -> None:
    assert run_to_the_end(tmp_path, access, "first") == "recorded"
    object_reads.clear()

    view = prepare_execution(request("second"), CONFIGURATION, mounts(tmp_path), reuse=access)

    assert view == {"execution_id": "second", "reused_from": "first", "reuse": None}
    assert sum(object_reads.values()) == 0
    assert not (tmp_path / "scratch/second").exists()  # nothing laid out, nothing claimed


def test_a_hit_elsewhere_is_copied_server_side(tmp_path: Path, access: ReuseAccess) -> None:
    run_to_the_end(tmp_path, access, "first")

    view = prepare_execution(
        request("second", prefix="s3://outputs/other/"),
        CONFIGURATION,
        mounts(tmp_path),
        reuse=access,
    )

    assert view["reused_from"] == "first"
    copied = access.s3_client.get_object(Bucket="outputs", Key="other/out.txt")
    assert copied["Body"].read() == b"result"


def test_a_changed_output_or_input_is_a_miss(tmp_path: Path, access: ReuseAccess) -> None:
    run_to_the_end(tmp_path, access, "first")
    access.s3_client.put_object(Bucket="outputs", Key="shared/out.txt", Body=b"changed")
    assert (
        prepare_execution(request("second"), CONFIGURATION, mounts(tmp_path), reuse=access)[
            "reused_from"
        ]
        is None
    )
    assert run_to_the_end(tmp_path, access, "third") == "recorded"
    access.s3_client.put_object(Bucket="inputs", Key="data.txt", Body=b"other input")

    view = prepare_execution(request("fourth"), CONFIGURATION, mounts(tmp_path), reuse=access)

    assert view["reused_from"] is None
    assert view["reuse"]["stored"] is False  # another key


def test_a_corrupt_item_is_a_miss(tmp_path: Path, access: ReuseAccess) -> None:
    run_to_the_end(tmp_path, access, "first")
    client = boto3.client("dynamodb", region_name="us-west-2")
    (item,) = client.scan(TableName=TABLE)["Items"]
    client.put_item(TableName=TABLE, Item=item | {"body": {"S": "{not json"}, "token": {"N": "1"}})

    view = prepare_execution(request("second"), CONFIGURATION, mounts(tmp_path), reuse=access)

    assert view["reused_from"] is None
    # ... and the run after it replaces the corrupt item
    seen = SeenState.model_validate(view["reuse"])
    (tmp_path / "scratch/second/out.txt").write_bytes(b"result")
    assert after_stage_out(seen, "second", CONFIGURATION, mounts(tmp_path), access) == "recorded"


def test_two_identical_executions_at_once_write_one_whole_record(
    tmp_path: Path, access: ReuseAccess
) -> None:
    views = [
        prepare_execution(request(f"run-{n}"), CONFIGURATION, mounts(tmp_path), reuse=access)
        for n in range(6)
    ]
    for n in range(6):
        (tmp_path / f"scratch/run-{n}/out.txt").write_bytes(b"result")
    access.s3_client.put_object(Bucket="outputs", Key="shared/out.txt", Body=b"result")
    start = threading.Barrier(6)
    outcomes: list[str] = [""] * 6

    def record(n: int) -> None:
        start.wait()
        seen = SeenState.model_validate(views[n]["reuse"])
        outcomes[n] = after_stage_out(seen, f"run-{n}", CONFIGURATION, mounts(tmp_path), access)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert outcomes.count("recorded") == 1
    (item,) = boto3.client("dynamodb", region_name="us-west-2").scan(TableName=TABLE)["Items"]
    kept = ReuseRecord.model_validate_json(item["body"]["S"])
    assert kept.execution_id == f"run-{outcomes.index('recorded')}"
    assert int(item["expires_at"]["N"]) == int(kept.expires_at.timestamp())
