from __future__ import annotations

from pathlib import Path

import pytest

DEPLOYMENT = {
    "DEMAND_ENVIRONMENT": "test",
    "DEMAND_FILE_SYSTEM_ID": "fs-test",
    "DEMAND_SCRATCH_ACCESS_POINT_ID": "fsap-scratch",
    "DEMAND_SHARED_ACCESS_POINT_ID": "fsap-shared",
    "DEMAND_DEFAULT_JOB_QUEUE": "demand-test-default",
    "DEMAND_DEFAULT_JOB_ROLE_ARN": "arn:aws:iam::123456789012:role/demand/jobs/default",
    "POWERTOOLS_SERVICE_NAME": "demand-test",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@pytest.fixture
def efs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The deployment's variables, with a temporary directory as the Lambda's EFS mount."""
    for name, value in DEPLOYMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DEMAND_EFS_MOUNT_PATH", str(tmp_path))
    return tmp_path
