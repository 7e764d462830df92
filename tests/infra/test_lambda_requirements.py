"""infra/lambda-requirements.txt is the whole, consistent tree of what pyproject.toml declares
for the Lambda steps (its ``lambda`` dependency group), resolved for the functions' platform.

Offline: the tree is walked through the metadata of the distributions installed in this
environment (the project's dependencies include every Lambda one), with the markers evaluated
as on the functions' runtime (CPython 3.14, Linux, aarch64).
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from infra.lambda_code import (
    LAMBDA_ARCHITECTURE,
    LAMBDA_GLIBC,
    LAMBDA_PYTHON_VERSION,
    REQUIREMENTS_FILE,
    read_requirements,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_MARKERS = {
    "python_version": LAMBDA_PYTHON_VERSION,
    "python_full_version": f"{LAMBDA_PYTHON_VERSION}.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": LAMBDA_ARCHITECTURE,
}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _declared() -> list[Requirement]:
    groups = _pyproject()["dependency-groups"]
    assert isinstance(groups, dict)
    return [Requirement(line) for line in groups["lambda"]]


def _pins() -> dict[str, Version]:
    pins = read_requirements(PROJECT_ROOT / REQUIREMENTS_FILE)
    return {canonicalize_name(pin.split("==")[0]): Version(pin.split("==")[1]) for pin in pins}


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(
        requirement.marker.evaluate({**LAMBDA_MARKERS, "extra": extra})
        for extra in (extras or {""})
    )


def test_each_declared_lambda_dependency_is_the_projects_own() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    dependencies = {str(Requirement(line)) for line in project["dependencies"]}
    for requirement in _declared():
        assert str(requirement) in dependencies, (
            f"{requirement} (dependency-groups.lambda) differs from [project].dependencies: "
            "the Lambda steps must run what the tests run against"
        )


def test_the_pins_satisfy_the_declared_ranges() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is declared for the Lambda but not pinned"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} is outside the declared {requirement.specifier}"
        )


def test_the_pins_are_the_whole_tree_and_nothing_more() -> None:
    pins = _pins()
    reached: set[str] = set()
    problems: list[str] = []
    pending = [(requirement, "dependency-groups.lambda") for requirement in _declared()]
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} (wanted by {wanted_by}) is not pinned")
            continue
        if not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} does not satisfy {requirement} ({wanted_by})")
        if name in reached and not requirement.extras:
            continue
        reached.add(name)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is pinned but not installed here: its tree cannot be read")
            continue
        for line in distribution.requires or []:
            dependency = Requirement(line)
            if _applies(dependency, set(requirement.extras)):
                pending.append((dependency, f"{name}"))
    problems += [f"{name} is pinned but nothing needs it" for name in sorted(set(pins) - reached)]
    assert not problems, "\n".join(problems)


def test_boto3_and_botocore_are_both_bundled() -> None:
    # One botocore in the package, the one boto3 was released with (docs/deploy.md says why).
    pins = _pins()
    assert {"boto3", "botocore", "s3transfer"} <= set(pins)
    boto3, botocore = pins["boto3"], pins["botocore"]
    assert (boto3.major, boto3.minor) == (botocore.major, botocore.minor)


def test_the_file_names_versions_only_and_the_command_that_made_it() -> None:
    text = (PROJECT_ROOT / REQUIREMENTS_FILE).read_text()
    assert "://" not in text  # no index, no URL, not even in a comment
    command = re.search(r"^#\s+(uv pip compile .*)$", text, re.MULTILINE)
    assert command, "the header names the command that regenerates the file"
    expected = (
        f"uv pip compile --group lambda --python-version {LAMBDA_PYTHON_VERSION} "
        f"--python-platform {LAMBDA_ARCHITECTURE}-manylinux_{LAMBDA_GLIBC[0]}_{LAMBDA_GLIBC[1]} "
        f"--only-binary :all: -o {REQUIREMENTS_FILE.as_posix()}"
    )
    assert command.group(1) == expected
    docs = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    assert expected in docs
