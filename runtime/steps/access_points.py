"""What an execution holds in a deployment besides files: its own EFS access points (one per
job-writable volume, rooted at the execution's directory) and its own job definition.

Prepare makes them; cleanup releases them. Both are found again from the execution id and the
deployment alone — an access point is released only if it is rooted inside the execution's own
directories, a job definition only under the name the execution's plan gives it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from runtime import contract
from runtime.errors import TransientAwsError, translate_client_error
from runtime.plan.models import ExecutionPlan
from runtime.steps.roots import ExecutionRoots, within

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_efs import EFSClient

EXECUTION_TAG = "demand:execution-id"
# Owner-only: the job and the steps act as the same POSIX user through the access points.
DIRECTORY_PERMISSIONS = "750"


@dataclass(frozen=True)
class ExecutionResources:
    efs: EFSClient
    batch: BatchClient
    file_system_id: str
    name_prefix: str
    posix_uid: int = contract.EFS_POSIX_UID
    posix_gid: int = contract.EFS_POSIX_GID
    tags: Mapping[str, str] = field(default_factory=dict)

    def create_access_points(self, plan: ExecutionPlan, roots: ExecutionRoots) -> dict[str, str]:
        """An access point for each of the job's own-directory volumes, by volume name.

        Idempotent (a retried Prepare gets the same ones back): the client token is derived
        from the execution id and the volume.
        """
        made: dict[str, str] = {}
        for volume in plan.job.volumes:
            if not any(
                within(_uri(self.file_system_id, volume.root_directory), own) for own in roots.own
            ):
                continue  # the shared cache: mounted whole, read-only
            token = hashlib.sha256(f"{plan.execution_id}/{volume.name}".encode()).hexdigest()
            try:
                point = self.efs.create_access_point(
                    ClientToken=token[:64],
                    FileSystemId=self.file_system_id,
                    PosixUser={"Uid": self.posix_uid, "Gid": self.posix_gid},
                    RootDirectory={
                        "Path": volume.root_directory,
                        "CreationInfo": {
                            "OwnerUid": self.posix_uid,
                            "OwnerGid": self.posix_gid,
                            "Permissions": DIRECTORY_PERMISSIONS,
                        },
                    },
                    Tags=[
                        {"Key": key, "Value": value}
                        for key, value in {
                            **self.tags,
                            "Name": f"{self.name_prefix}-{plan.execution_id}",
                            EXECUTION_TAG: plan.execution_id,
                        }.items()
                    ],
                )
            except ClientError as exc:
                raise translate_client_error(exc, f"access point for {volume.name}") from exc
            if point.get("LifeCycleState", "available") != "available":
                # The state machine retries Prepare on this error; the token returns this one.
                raise TransientAwsError(f"access point {point['AccessPointId']} is not ready")
            made[volume.name] = point["AccessPointId"]
        return made

    def release(self, roots: ExecutionRoots) -> list[str]:
        """Delete the execution's access points, deregister its job definition."""
        return [*self._delete_access_points(roots), *self._deregister_definition(roots)]

    def _delete_access_points(self, roots: ExecutionRoots) -> list[str]:
        released = []
        try:
            pages = self.efs.get_paginator("describe_access_points").paginate(
                FileSystemId=self.file_system_id
            )
            for page in pages:
                for point in page["AccessPoints"]:
                    tags = {t["Key"]: t["Value"] for t in point.get("Tags", [])}
                    path = point.get("RootDirectory", {}).get("Path", "/")
                    mine = tags.get(EXECUTION_TAG) == roots.execution_id and any(
                        within(_uri(self.file_system_id, path), own) for own in roots.own
                    )
                    if mine:
                        self.efs.delete_access_point(AccessPointId=point["AccessPointId"])
                        released.append(point["AccessPointArn"])
        except ClientError as exc:
            raise translate_client_error(exc, f"access points of {roots.execution_id}") from exc
        return released

    def _deregister_definition(self, roots: ExecutionRoots) -> list[str]:
        name = f"{self.name_prefix}-{roots.execution_id}"
        released = []
        try:
            pages = self.batch.get_paginator("describe_job_definitions").paginate(
                jobDefinitionName=name, status="ACTIVE"
            )
            for page in pages:
                for definition in page["jobDefinitions"]:
                    self.batch.deregister_job_definition(
                        jobDefinition=definition["jobDefinitionArn"]
                    )
                    released.append(definition["jobDefinitionArn"])
        except ClientError as exc:
            raise translate_client_error(exc, f"job definition {name}") from exc
        return released


def _uri(file_system_id: str, path: str) -> str:
    return f"efs://{file_system_id}:{PurePosixPath(path)}"
