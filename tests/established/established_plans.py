# mypy: ignore-errors
"""Run INSIDE the established venv (tests/established/venv.py): the established context manager
on a batch of requests, read as JSON from stdin; one JSON result per request on stdout.

EFS is stood in for as the established tests' ``Helpers`` do: file system and access point
descriptions built in memory, so no AWS (mocked or not) is reached. No env file is written: this
process has no EFS mounted, so the established code passes the environment directly.
"""

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

from aibs_informatics_aws_lambda.handlers.demand.context_manager import (
    BatchEFSConfiguration,
    DemandExecutionContextManager,
)
from aibs_informatics_aws_lambda.handlers.demand.model import ContextManagerConfiguration
from aibs_informatics_aws_utils.efs import MountPointConfiguration
from aibs_informatics_core.env import EnvBase
from aibs_informatics_core.models.demand_execution import DemandExecution

FILE_SYSTEM_ID = "fs-12345678"


def _volume(name: str, mount_path: str, read_only: bool) -> BatchEFSConfiguration:
    file_system = {
        "OwnerId": "owner",
        "CreationToken": "token",
        "FileSystemId": FILE_SYSTEM_ID,
        "FileSystemName": "fs",
        "CreationTime": datetime(2023, 1, 1),
        "LifeCycleState": "available",
        "NumberOfMountTargets": 1,
        "SizeInBytes": {"Value": 123},
        "PerformanceMode": "generalPurpose",
        "Tags": [],
    }
    access_point = {
        "ClientToken": "token",
        "AccessPointId": f"fsap-{name}",
        "FileSystemId": FILE_SYSTEM_ID,
        "OwnerId": "owner",
        "RootDirectory": {"Path": f"/{name}"},
        "Tags": [],
    }
    config = MountPointConfiguration(
        file_system=file_system, access_point=access_point, mount_point=Path(mount_path)
    )
    return BatchEFSConfiguration(mount_point_config=config, read_only=read_only)


def _as_list(patterns) -> list:
    if not patterns:
        return []
    return [patterns] if isinstance(patterns, str) else list(patterns)


def _filters(config) -> dict:
    if config is None:
        return {"include": [], "exclude": []}
    return {
        "include": _as_list(config.include),
        "exclude": _as_list(config.exclude),
    }


def plan(case: dict) -> dict:
    try:
        execution = DemandExecution.from_dict(case["request"])
        manager = DemandExecutionContextManager(
            demand_execution=execution,
            scratch_vol_configuration=_volume("scratch", "/opt/efs/scratch", False),
            shared_vol_configuration=_volume("shared", "/opt/efs/shared", True),
            configuration=ContextManagerConfiguration(isolate_inputs=case["isolate_inputs"]),
            env_base=EnvBase("dev-marmot"),
        )
        builder = manager.batch_job_builder
        params = manager.demand_execution.execution_parameters
        return {
            "command": list(builder.command),
            "environment": dict(builder.environment),
            "inputs": {
                p.name: {"remote": str(p.remote_value), "path": str(p.value)}
                for p in params.downloadable_job_param_inputs
            },
            "outputs": {
                p.name: {"remote": str(p.remote_value), "path": str(p.value)}
                for p in params.uploadable_job_param_outputs
            },
            "resources": [dict(r) for r in builder.resource_requirements],
            "privileged": bool(builder.privileged),
            "stage_in": [
                {"source": str(r.source_path), "destination": str(r.destination_path)}
                | _filters(r.filter_config)
                for r in manager.pre_execution_data_sync_requests
            ],
            "stage_out": [
                {"source": str(r.source_path), "destination": str(r.destination_path)}
                | _filters(r.filter_config)
                for r in manager.post_execution_data_sync_requests
            ],
        }
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    cases = json.load(sys.stdin)
    json.dump([plan(case) for case in cases], sys.stdout)
