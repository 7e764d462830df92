"""Shared fixtures for the whole suite."""

from __future__ import annotations

import os
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from moto import mock_aws
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer

# Tests never reach real AWS: fake credentials and a fixed region for boto3 and moto.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-west-2")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# The sync's record of verified files: the suite's own, never the user's (~/.cache/demand).
os.environ.setdefault(
    "DEMAND_SYNC_DIGESTS",
    os.path.join(tempfile.mkdtemp(prefix="demand-digests-"), "sync-digests.sqlite"),
)

# One synthesis of every environment per session, shared by tests/infra and tests/e2e.
pytest_plugins = ["tests.synthesis"]

# What `./dev test --fast` leaves out (it runs `-m "not slow"`), by node id prefix: tests that take
# seconds rather than milliseconds (measured with `pytest --durations`) because they run whole
# executions, real processes and signals, or a fresh interpreter. Every test that uses the
# session's CDK synthesis is slow too (see pytest_collection_modifyitems), and so is any test
# marked `@pytest.mark.slow` where it is written.
SLOW_TESTS = (
    "tests/e2e/",
    "tests/infra/test_app.py",
    "tests/runtime/handlers/test_lambda_imports.py",
    "tests/runtime/handlers/test_prepare_handler.py::test_ten_thousand_inputs_stay_far_below",
    "tests/runtime/handlers/test_sync_refusals.py::test_a_stored_plan_is_read_from_the_control_dir",
    "tests/runtime/local/test_interrupt.py",
    "tests/runtime/local/test_sandbox.py::test_the_cli_runs_the_job_in_the_sandbox",
    "tests/runtime/sync/test_benchmark.py",
    "tests/runtime/sync/test_cache.py::test_eight_concurrent_stagers_download_once",
    "tests/runtime/sync/test_safety.py",
    "tests/runtime/test_cli_plan.py::test_missing_file_is_one_line_no_traceback",
    "tests/runtime/test_hostile_requests.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses_synthesis = isinstance(item, pytest.Function) and "synthesis" in item.fixturenames
        if item.nodeid.startswith(SLOW_TESTS) or uses_synthesis:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto over HTTP, for the sync engine's CRT client (which bypasses botocore)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """All of AWS mocked by moto; S3 also at the returned endpoint, shared with boto3.

    The server and the in-process mock share moto's backends, so an object put with boto3 is
    what the CRT client reads.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield moto_server


@pytest.fixture
def object_reads(aws: str) -> Iterator[Counter[str]]:
    """How many times each object's body was read (GetObject requests, ranged ones included)."""
    reads: Counter[str] = Counter()
    lock = threading.Lock()
    read_object = S3Response.get_object

    def counting(response: S3Response) -> Any:
        with lock:
            reads[f"s3://{response.bucket_name}/{response.parse_key_name()}"] += 1
        return read_object(response)

    with mock.patch.object(S3Response, "get_object", counting):
        yield reads
