"""Packaging runtime/ for Lambda without Docker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.functions import LAMBDA_RUNTIME
from infra.lambda_code import (
    LAMBDA_PYTHON_VERSION,
    REQUIREMENTS_FILE,
    BundleError,
    build_bundle,
    parse_bundle_kind,
    read_requirements,
)

PINS = "# generated\npydantic==2.14.4\n    # via x\npydantic-core==2.50.5\n\nPyYAML==6.0.4\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "runtime" / "handlers").mkdir(parents=True)
    (root / "runtime" / "__init__.py").write_text("")
    (root / "runtime" / "handlers" / "prepare.py").write_text("def handler(e, c): ...\n")
    (root / "runtime" / "handlers" / "__pycache__").mkdir()
    (root / "runtime" / "handlers" / "__pycache__" / "prepare.cpython-311.pyc").write_bytes(b"x")
    (root / REQUIREMENTS_FILE).parent.mkdir()
    (root / REQUIREMENTS_FILE).write_text(PINS)
    return root


def _fake_install(
    command: list[str], installed: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """What pip leaves in --target: each pin's dist-info (or ``installed``'s), and bin/."""
    target = Path(command[command.index("--target") + 1])
    pins = [arg for arg in command if "==" in arg]
    for name, version in (installed or dict(pin.split("==") for pin in pins)).items():
        info = target / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (target / "pydantic").mkdir()
    (target / "bin").mkdir()
    return subprocess.CompletedProcess(command, 0, "", "")


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


def test_full_bundle_installs_exactly_the_pins_as_wheels_for_lambda(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return _fake_install(command)

    monkeypatch.setattr(subprocess, "run", fake_pip)
    bundle = build_bundle("full", project_root=project)
    (command,) = calls
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    # Amazon Linux 2023's glibc is 2.34: every manylinux up to it, nothing newer, nothing x86.
    assert platforms[0] == "manylinux_2_34_aarch64"
    assert "manylinux2014_aarch64" in platforms
    assert all(platform.endswith("_aarch64") for platform in platforms)
    assert "manylinux_2_35_aarch64" not in platforms
    assert command[command.index("--python-version") + 1] == "3.14"
    assert "--only-binary=:all:" in command
    # The file is the whole tree: pip resolves nothing of its own.
    assert "--no-deps" in command
    assert command[-3:] == ["pydantic==2.14.4", "pydantic-core==2.50.5", "PyYAML==6.0.4"]
    assert (bundle.path / "pydantic").is_dir()
    assert not (bundle.path / "bin").exists()
    assert (bundle.path / "runtime" / "handlers" / "prepare.py").is_file()
    # Cached: no second install.
    assert build_bundle("full", project_root=project) == bundle
    assert len(calls) == 1


def test_a_changed_pin_rebuilds(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", lambda command, **_: _fake_install(command))
    first = build_bundle("full", project_root=project)
    (project / REQUIREMENTS_FILE).write_text(PINS.replace("6.0.4", "6.0.3"))
    second = build_bundle("full", project_root=project)
    assert second.digest != first.digest
    # Comments do not count.
    (project / REQUIREMENTS_FILE).write_text("# regenerated\n" + PINS.replace("6.0.4", "6.0.3"))
    assert build_bundle("full", project_root=project) == second
    assert len(list((project / ".build" / "lambda").glob("full-*"))) == 1


def test_pip_installing_other_than_the_pins_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = {"pydantic": "2.14.4", "pydantic-core": "2.50.6", "typing-extensions": "4.16.0"}
    monkeypatch.setattr(subprocess, "run", lambda command, **_: _fake_install(command, drifted))
    with pytest.raises(BundleError) as raised:
        build_bundle("full", project_root=project)
    message = str(raised.value)
    assert "pydantic-core: pinned 2.50.5, installed 2.50.6" in message
    assert "pyyaml: pinned 6.0.4, installed (nothing)" in message
    assert "typing-extensions: pinned (not pinned), installed 4.16.0" in message
    assert not list((project / ".build" / "lambda").glob("full-*"))


@pytest.mark.parametrize(
    "line",
    [
        "pydantic>=2.14",
        "pydantic",
        "--index-url https://example.invalid/simple",
        "-i https://example.invalid/simple",
        "--extra-index-url https://example.invalid/simple",
        "pydantic @ https://example.invalid/pydantic.whl",
        "aws-lambda-powertools[tracer]==3.37.0",
        "pydantic==2.14.4 ; python_version < '3.12'",
        "pydantic==2.14.4 --hash=sha256:00",
    ],
)
def test_requirements_are_versions_alone(tmp_path: Path, line: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"six==1.17.0\n{line}\n")
    with pytest.raises(BundleError, match=r"requirements.txt:2: .* is not a name==version pin"):
        read_requirements(path)


def test_requirements_file_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"cannot read the Lambda requirements .*docs/deploy.md"):
        read_requirements(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(BundleError, match="pins nothing"):
        read_requirements(tmp_path / "empty.txt")


def test_the_bundle_is_for_the_functions_python() -> None:
    assert LAMBDA_RUNTIME.name == f"python{LAMBDA_PYTHON_VERSION}"


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
