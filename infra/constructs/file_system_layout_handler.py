"""CloudFormation custom resource: create the volume directories, owned by the jobs' user.

Access points create their root directory on first mount, but the Lambda steps see the file
system through an access point rooted at ``/`` and may write ``/shared/...`` before any job has
mounted ``/shared``; as an unprivileged user they cannot create top-level directories. This
function mounts the file system as root once per deployment and creates them.

Deployed as inline code: standard library only.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

MOUNT_PATH = "/mnt/efs"


def create_directories(mount_path: str, paths: list[str], uid: int, gid: int, mode: int) -> None:
    """Make each ``paths`` entry (absolute in the file system) exist with this owner and mode."""
    for path in paths:
        local = os.path.join(mount_path, path.lstrip("/"))
        os.makedirs(local, exist_ok=True)
        os.chown(local, uid, gid)
        os.chmod(local, mode)


def handler(event: dict[str, Any], context: Any) -> None:
    status, reason = "SUCCESS", ""
    try:
        if event["RequestType"] in ("Create", "Update"):
            props = event["ResourceProperties"]
            create_directories(
                MOUNT_PATH,
                list(props["Directories"]),
                int(props["Uid"]),
                int(props["Gid"]),
                int(props["Mode"], 8),
            )
    except Exception as exc:  # every failure must reach CloudFormation, or the stack hangs
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    _respond(event, context, status, reason)


def _respond(event: dict[str, Any], context: Any, status: str, reason: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or f"see log stream {context.log_stream_name}",
            "PhysicalResourceId": event.get("PhysicalResourceId") or "file-system-layout",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass
