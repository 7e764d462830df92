"""The deploy-time custom resource that creates the volume directories."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra.constructs import file_system_layout_handler as layout


def test_creates_directories_with_owner_and_mode(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o700)  # an existing one is brought in line
    layout.create_directories(
        str(tmp_path), ["/scratch", "/shared", "/tmp"], os.getuid(), os.getgid(), 0o755
    )
    for name in ("scratch", "shared", "tmp"):
        mode = (tmp_path / name).stat().st_mode
        assert stat.S_ISDIR(mode)
        assert stat.S_IMODE(mode) == 0o755


class _Response:
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *args: object) -> None:
        return None


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    def fake_urlopen(request: Any, timeout: float) -> _Response:
        assert request.get_method() == "PUT"
        bodies.append(json.loads(request.data))
        return _Response()

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return bodies


def _event(request_type: str, mount: Path) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://example.invalid/response",
        "StackId": "stack",
        "RequestId": "request",
        "LogicalResourceId": "Layout",
        "ResourceProperties": {
            "Directories": ["/scratch"],
            "Uid": str(os.getuid()),
            "Gid": str(os.getgid()),
            "Mode": "0750",
        },
    }


def test_create_reports_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(layout, "MOUNT_PATH", str(tmp_path))
    layout.handler(_event("Create", tmp_path), SimpleNamespace(log_stream_name="stream"))
    assert stat.S_IMODE((tmp_path / "scratch").stat().st_mode) == 0o750
    (body,) = sent
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "file-system-layout"


def test_delete_keeps_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(layout, "MOUNT_PATH", str(tmp_path))
    event = _event("Delete", tmp_path) | {"PhysicalResourceId": "file-system-layout"}
    layout.handler(event, SimpleNamespace(log_stream_name="stream"))
    assert not (tmp_path / "scratch").exists()
    assert sent[0]["Status"] == "SUCCESS"


def test_a_failure_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: list[dict[str, Any]]
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setattr(layout, "MOUNT_PATH", str(blocked))  # a file, not a directory
    layout.handler(_event("Update", tmp_path), SimpleNamespace(log_stream_name="stream"))
    assert sent[0]["Status"] == "FAILED"
    assert sent[0]["Reason"].startswith(("FileExistsError", "NotADirectoryError"))
