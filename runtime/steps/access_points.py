"""What an execution holds in a deployment besides files: its own EFS access points (one per
job-writable volume, rooted at the execution's directory) and its own job definition.

Prepare makes them; cleanup releases them. Both are found again from the execution id and the
deployment alone — an access point is released only if it is rooted inside the execution's own
directories, a job definition only under the name the execution's plan gives it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import contract
from runtime.errors import AwsRequestError, TransientAwsError, translate_client_error
from runtime.plan.models import ExecutionPlan, JobVolume
from runtime.steps.roots import ExecutionRoots, within

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_efs import EFSClient

EXECUTION_TAG = "demand:execution-id"
# The mode EFS gives an access point's root directory when it makes it (CreationInfo applies
# only when the root does not exist yet). Not a boundary: every job and every step acts as the
# same POSIX user (contract.EFS_POSIX_UID) through its access point. What keeps a job to its
# own directories is the access points' roots and the file system policy, not modes.
DIRECTORY_PERMISSIONS = "750"
# How long Prepare waits for new access points to become available (they usually answer
# "creating" first) before it gives up with TransientAwsError, and how often it asks.
READY_TIMEOUT_SECONDS = 20.0
READY_POLL_SECONDS = 1.0
# Lifecycle states an access point does not come back from: never reused, a failure if waited on.
_GONE_STATES = frozenset({"deleting", "deleted", "error"})


@dataclass(frozen=True)
class ExecutionResources:
    efs: EFSClient
    batch: BatchClient
    file_system_id: str
    name_prefix: str
    posix_uid: int = contract.EFS_POSIX_UID
    posix_gid: int = contract.EFS_POSIX_GID
    tags: Mapping[str, str] = field(default_factory=dict)
    # The stack's access point to the shared cache (no execution's), and where it is rooted.
    shared_access_point_id: str | None = None
    shared_root: str = "/shared"
    ready_timeout: float = READY_TIMEOUT_SECONDS
    poll_interval: float = READY_POLL_SECONDS
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def access_point_view(self, point: str) -> tuple[str, str | None]:
        """An access point's root directory and the execution it was made for (None: the
        stack's own), for checking a job definition that mounts it."""
        if point == self.shared_access_point_id:
            return self.shared_root, None
        try:
            (described,) = self.efs.describe_access_points(AccessPointId=point)["AccessPoints"]
        except ClientError as exc:
            raise translate_client_error(exc, f"access point {point}") from exc
        tags = {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}
        return described["RootDirectory"]["Path"], tags.get(EXECUTION_TAG)

    def create_access_points(self, plan: ExecutionPlan, roots: ExecutionRoots) -> dict[str, str]:
        """An access point for each of the job's own-directory volumes, by volume name, once
        each is available.

        Idempotent (a retried Prepare gets the same ones back): the execution's existing ones
        are found first (by tag and root); a new one is made with a client token derived from
        the file system, the environment, the execution and the volume, and a token EFS has
        seen already answers the access point it made then.
        """
        volumes = [
            volume
            for volume in plan.job.volumes
            # Not the shared cache: mounted whole, read-only.
            if any(
                within(_uri(self.file_system_id, volume.root_directory), own) for own in roots.own
            )
        ]
        if not volumes:
            return {}
        existing = {
            _path(point): point
            for point in self._listed(roots.execution_id)
            if point.get("LifeCycleState") not in _GONE_STATES
        }
        points: dict[str, dict[str, Any]] = {}
        for volume in volumes:
            found = existing.get(str(PurePosixPath(volume.root_directory)))
            points[volume.name] = found or self._create(plan.execution_id, volume)
        self._wait_until_available(points)
        return {name: point["AccessPointId"] for name, point in points.items()}

    def client_token(self, execution_id: str, volume_name: str) -> str:
        """The CreateAccessPoint token of one volume: distinct across file systems, environments
        (name prefixes) of one account, executions and volumes; 64 characters (EFS's limit)."""
        key = json.dumps([self.file_system_id, self.name_prefix, execution_id, volume_name])
        return hashlib.sha256(key.encode()).hexdigest()

    def _create(self, execution_id: str, volume: JobVolume) -> dict[str, Any]:
        try:
            point = self.efs.create_access_point(
                ClientToken=self.client_token(execution_id, volume.name),
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
                        "Name": contract.execution_resource_name(self.name_prefix, execution_id),
                        EXECUTION_TAG: execution_id,
                    }.items()
                ],
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            made = exc.response.get("AccessPointId")
            if code == "AccessPointAlreadyExists" and isinstance(made, str):
                # Real EFS: this token made one already (a retried Prepare). Its state is not
                # known: the wait below asks.
                return {"AccessPointId": made, "LifeCycleState": "unknown"}
            raise translate_client_error(exc, f"access point for {volume.name}") from exc
        return dict(point)

    def _wait_until_available(self, points: Mapping[str, dict[str, Any]]) -> None:
        """Poll each access point not yet available until it is, within ``ready_timeout`` in
        all. Still creating then: TransientAwsError (the state machine retries Prepare, which
        finds them again); failed or being deleted: AwsRequestError."""
        deadline = self.clock() + self.ready_timeout
        waiting = {
            point["AccessPointId"]: name
            for name, point in points.items()
            if point.get("LifeCycleState") != "available"
        }
        while True:
            for point_id, name in list(waiting.items()):
                state = self._state(point_id, name)
                if state == "available":
                    del waiting[point_id]
                elif state in _GONE_STATES:
                    raise AwsRequestError(
                        f"access point {point_id} for {name} is {state}, not available"
                    )
            if not waiting:
                return
            if self.clock() + self.poll_interval > deadline:
                raise TransientAwsError(
                    "access points not available yet: " + ", ".join(sorted(waiting))
                )
            self.sleep(self.poll_interval)

    def _state(self, point_id: str, name: str) -> str:
        try:
            answer = self.efs.describe_access_points(AccessPointId=point_id)
        except ClientError as exc:
            raise translate_client_error(exc, f"access point {point_id} for {name}") from exc
        described = answer.get("AccessPoints", [])
        return described[0].get("LifeCycleState", "unknown") if described else "unknown"

    def _listed(self, execution_id: str) -> list[dict[str, Any]]:
        """The file system's access points tagged with this execution id, the whole listing
        read before anything is done with it."""
        listed: list[dict[str, Any]] = []
        try:
            pages = self.efs.get_paginator("describe_access_points").paginate(
                FileSystemId=self.file_system_id
            )
            for page in pages:
                for point in page["AccessPoints"]:
                    tags = {t["Key"]: t["Value"] for t in point.get("Tags", [])}
                    if tags.get(EXECUTION_TAG) == execution_id:
                        listed.append(dict(point))
        except ClientError as exc:
            raise translate_client_error(exc, f"access points of {execution_id}") from exc
        return listed

    def release(self, roots: ExecutionRoots) -> list[str]:
        """Delete the execution's access points, deregister its job definition."""
        return [*self._delete_access_points(roots), *self._deregister_definition(roots)]

    def _delete_access_points(self, roots: ExecutionRoots) -> list[str]:
        mine = [
            point
            for point in self._listed(roots.execution_id)
            if any(within(_uri(self.file_system_id, _path(point)), own) for own in roots.own)
        ]
        released = []
        for point in mine:
            try:
                self.efs.delete_access_point(AccessPointId=point["AccessPointId"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "AccessPointNotFound":
                    continue  # gone since the listing (a concurrent or earlier cleanup)
                raise translate_client_error(exc, f"access point {point['AccessPointId']}") from exc
            released.append(point["AccessPointArn"])
        return released

    def _deregister_definition(self, roots: ExecutionRoots) -> list[str]:
        name = contract.execution_resource_name(self.name_prefix, roots.execution_id)
        try:
            pages = self.batch.get_paginator("describe_job_definitions").paginate(
                jobDefinitionName=name, status="ACTIVE"
            )
            arns = [d["jobDefinitionArn"] for page in pages for d in page["jobDefinitions"]]
            for arn in arns:
                self.batch.deregister_job_definition(jobDefinition=arn)
        except ClientError as exc:
            raise translate_client_error(exc, f"job definition {name}") from exc
        return arns


def _path(point: Mapping[str, Any]) -> str:
    return str(PurePosixPath(point.get("RootDirectory", {}).get("Path", "/")))


def _uri(file_system_id: str, path: str) -> str:
    return f"efs://{file_system_id}:{PurePosixPath(path)}"
