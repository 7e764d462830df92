"""Packaging runtime/ for Lambda without Docker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.lambda_code import (
    LAMBDA_DEPENDENCIES,
    BundleError,
    build_bundle,
    parse_bundle_kind,
    pinned_requirements,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "runtime" / "handlers").mkdir(parents=True)
    (root / "runtime" / "__init__.py").write_text("")
    (root / "runtime" / "handlers" / "prepare.py").write_text("def handler(e, c): ...\n")
    (root / "runtime" / "handlers" / "__pycache__").mkdir()
    (root / "runtime" / "handlers" / "__pycache__" / "prepare.cpython-311.pyc").write_bytes(b"x")
    return root


def test_source_bundle_copies_runtime_without_byte_code(project: Path) -> None:
    bundle = build_bundle("source", project_root=project)
    assert bundle.kind == "source"
    assert bundle.path.parent == project / ".build" / "lambda"
    files = sorted(p.relative_to(bundle.path).as_posix() for p in bundle.path.rglob("*.*"))
    assert files == ["runtime/__init__.py", "runtime/handlers/prepare.py"]


def test_bundle_is_cached_by_its_inputs(project: Path) -> None:
    first = build_bundle("source", project_root=project)
    assert build_bundle("source", project_root=project) == first
    (project / "runtime" / "handlers" / "prepare.py").write_text("def handler(e, c): 1\n")
    changed = build_bundle("source", project_root=project)
    assert changed.digest != first.digest
    assert changed.path != first.path
    # Byte code does not count.
    (project / "runtime" / "handlers" / "__pycache__" / "other.pyc").write_bytes(b"y")
    assert build_bundle("source", project_root=project) == changed


def test_full_bundle_installs_pinned_wheels_for_lambda(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "pydantic").mkdir()
        (target / "bin").mkdir()
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    bundle = build_bundle("full", project_root=project)
    (command,) = calls
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert command[command.index("--python-version") + 1] == "3.14"
    assert "--only-binary=:all:" in command
    assert set(command[-len(LAMBDA_DEPENDENCIES) :]) == set(pinned_requirements())
    assert (bundle.path / "pydantic").is_dir()
    assert not (bundle.path / "bin").exists()
    assert (bundle.path / "runtime" / "handlers" / "prepare.py").is_file()
    # Cached: no second install.
    assert build_bundle("full", project_root=project) == bundle
    assert len(calls) == 1


def test_pins_are_exact_and_leave_out_the_cli_and_cdk() -> None:
    pins = pinned_requirements()
    assert [pin.split("==")[0] for pin in pins] == [
        "pydantic",
        "aws-lambda-powertools",
        "aws-xray-sdk",
        "awscrt",
        "PyYAML",
    ]
    assert all("==" in pin for pin in pins)


def test_pip_failure_says_what_to_do(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(BundleError, match=r"No matching distribution.*demand:lambda-bundle=source"):
        build_bundle("full", project_root=project)
    assert not list((project / ".build" / "lambda").glob("full-*"))


def test_bundle_kind() -> None:
    assert parse_bundle_kind(None) == "full"
    assert parse_bundle_kind("source") == "source"
    with pytest.raises(BundleError):
        parse_bundle_kind("zip")
