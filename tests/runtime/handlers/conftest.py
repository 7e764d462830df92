from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

DEPLOYMENT = {
    "DEMAND_ENVIRONMENT": "test",
    "DEMAND_FILE_SYSTEM_ID": "fs-test",
    "DEMAND_SHARED_ACCESS_POINT_ID": "fsap-shared",
    "DEMAND_DEFAULT_JOB_QUEUE": "demand-test-default",
    "DEMAND_DEFAULT_JOB_ROLE_ARN": "arn:aws:iam::123456789012:role/demand/jobs/default",
    # As the stack sets it (infra/constructs/compute.py): the largest max_vcpus of the queue's
    # compute environments, no GPU without a GPU compute environment, memory not known.
    "DEMAND_QUEUE_LIMITS": json.dumps(
        {"demand-test-default": {"vcpus": 16, "memory": None, "gpu": 0}}
    ),
    "POWERTOOLS_SERVICE_NAME": "demand-test",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@pytest.fixture
def efs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The deployment's variables, with a temporary directory as the Lambda's EFS mount, and
    moto answering the EFS and Batch calls the steps make (access points, definitions)."""
    for name, value in DEPLOYMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DEMAND_EFS_MOUNT_PATH", str(tmp_path))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    with mock_aws():
        yield tmp_path
