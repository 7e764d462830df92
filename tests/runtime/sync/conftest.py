"""Fixtures for the sync engine's tests: in-process moto, and a faulty moto server for the CRT."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from runtime.sync.localfs import PARTIALS_SUFFIX
from runtime.sync.settings import S3Config
from tests.runtime.sync.faults import Faults, FaultyServer, start_server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[FaultyServer]:
    yield from start_server()


@pytest.fixture
def faults(s3_server: FaultyServer) -> Iterator[Faults]:
    s3_server.faults.reset()
    yield s3_server.faults
    s3_server.faults.reset()


@pytest.fixture
def crt_config(s3_server: FaultyServer) -> S3Config:
    """The CRT client against the faulty server; quick retries so throttling tests are fast."""
    return S3Config(
        endpoint_url=s3_server.endpoint,
        region=REGION,
        part_size=5 * 2**20,
        multipart_threshold=5 * 2**20,
        retry_backoff_ms=5,
        max_in_flight=16,
    )


@pytest.fixture
def server_client(s3_server: FaultyServer) -> S3Client:
    """boto3 over HTTP to the same server (to arrange and inspect what the CRT sees)."""
    return boto3.client("s3", endpoint_url=s3_server.endpoint, region_name=REGION)


@pytest.fixture
def bucket(server_client: S3Client) -> str:
    name = f"sync-{uuid.uuid4().hex[:12]}"
    server_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def server_env(s3_server: FaultyServer) -> dict[str, str]:
    """Environment for a subprocess sync against the faulty server."""
    env = dict(os.environ)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        env.pop(name, None)
    env.update(
        AWS_ENDPOINT_URL=s3_server.endpoint,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        DEMAND_SYNC_PART_SIZE="5MiB",
        DEMAND_SYNC_MAX_IN_FLIGHT="4",
    )
    return env


@pytest.fixture
def moto_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    """In-process moto (botocore only): the boto3 backend's tests, fast and hermetic."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="data")
        yield client


def put_tree(client: S3Client, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for relpath, body in files.items():
        client.put_object(Bucket=bucket, Key=prefix + relpath, Body=body)


def read_tree(root: Path) -> dict[str, bytes]:
    """Files under ``root`` by relative path; partial downloads are reported as such."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def partials(root: Path) -> list[Path]:
    """Partial files left by syncs into ``root``, or into a destination under it."""
    beside = root.with_name(f".{root.name}{PARTIALS_SUFFIX}")
    directories = [*root.rglob(f"*{PARTIALS_SUFFIX}"), beside]
    return [path for found in directories if found.is_dir() for path in found.iterdir()]


def s3_tree(client: S3Client, bucket: str, prefix: str = "") -> dict[str, bytes]:
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", ())
    ]
    return {
        key[len(prefix) :]: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys
    }


class Store:
    """One S3 to test against: a client to arrange and inspect, and what ``sync(s3=...)`` takes."""

    def __init__(self, client: S3Client, bucket: str, access: S3Config | S3Client) -> None:
        self.client = client
        self.bucket = bucket
        self.access = access

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, prefix: str, files: dict[str, bytes]) -> None:
        put_tree(self.client, self.bucket, prefix, files)

    def tree(self, prefix: str = "") -> dict[str, bytes]:
        return s3_tree(self.client, self.bucket, prefix)


@pytest.fixture(params=["boto3", "crt"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each engine behaviour against both backends: boto3 on in-process moto, the CRT on the
    moto server."""
    if request.param == "boto3":
        client = request.getfixturevalue("moto_client")
        return Store(client, "data", client)
    client = request.getfixturevalue("server_client")
    return Store(client, request.getfixturevalue("bucket"), request.getfixturevalue("crt_config"))
