from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.e2e.harness import DATA_BUCKET, REGION, Harness
from tests.synthesis import Synthesis

BUCKETS = (DATA_BUCKET, "another-teams-data")


@pytest.fixture
def harness(
    synthesis: Synthesis, aws: str, object_reads: Counter[str], tmp_path: Path
) -> Iterator[Harness]:
    """The dev environment's state machine in moto, ready to start executions."""
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    efs = tmp_path / "efs"
    efs.mkdir()
    running = Harness(template=synthesis.templates["dev"], efs=efs, object_reads=object_reads)
    with running.patched():
        running.deploy()
        yield running
