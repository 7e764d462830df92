"""The Lambda steps' code: a copy of ``runtime/`` plus its dependencies, built without Docker.

Dependencies are installed by pip as prebuilt wheels for the Lambda platform (arm64 Linux,
the Lambda's Python), pinned to the versions installed in this project's environment, which
are the versions the test suite ran against. A build is cached under ``.build/lambda/`` by a
digest of everything that goes into it, so only a change to ``runtime/`` or to a pin rebuilds.

Two kinds of package, chosen with ``-c demand:lambda-bundle=full|source``:

- ``full`` (the default): dependencies and source; what a deployment needs. The first build
  reaches PyPI; later ones are served from the cache.
- ``source``: ``runtime/`` only; synthesizes offline in well under a second. For tests and for
  reviewing templates — functions deployed from it fail on their first import.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BUNDLE_CONTEXT_KEY = "demand:lambda-bundle"
BundleKind = Literal["full", "source"]

LAMBDA_PYTHON_VERSION = "3.14"  # the functions' runtime is python3.14 (see functions.py)
LAMBDA_PLATFORM = "manylinux2014_aarch64"  # the functions run on arm64
# What runtime/ imports at run time in Lambda; boto3 comes with the Lambda runtime.
# aws-xray-sdk backs Powertools' Tracer (the functions run with X-Ray tracing on).
LAMBDA_DEPENDENCIES = ("pydantic", "aws-lambda-powertools", "aws-xray-sdk", "awscrt", "PyYAML")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGE = "runtime"
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


class BundleError(RuntimeError):
    """The Lambda package could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class LambdaBundle:
    """A directory ready to be zipped as the functions' code, and the digest naming it."""

    path: Path
    digest: str
    kind: BundleKind


def parse_bundle_kind(value: object) -> BundleKind:
    if value is None or value == "full":
        return "full"
    if value == "source":
        return "source"
    raise BundleError(f"{BUNDLE_CONTEXT_KEY} must be 'full' or 'source', got {value!r}")


def pinned_requirements() -> list[str]:
    """``name==version`` for each Lambda dependency, as installed in this environment."""
    pins = []
    for name in LAMBDA_DEPENDENCIES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise BundleError(
                f"{name} is not installed in this environment, so the Lambda package cannot pin "
                "it; run ./dev once to install the project"
            ) from None
    return pins


def _source_files(source_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in source_dir.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def bundle_digest(kind: BundleKind, requirements: list[str], source_dir: Path) -> str:
    """A digest of everything a bundle is made of: its kind, the pins, and every source file."""
    digest = hashlib.sha256()
    digest.update(f"{kind}\n{LAMBDA_PYTHON_VERSION}\n{LAMBDA_PLATFORM}\n".encode())
    if kind == "full":
        digest.update("\n".join(requirements).encode())
    for path in _source_files(source_dir):
        digest.update(b"\0" + path.relative_to(source_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _install_dependencies(requirements: list[str], target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        "--target",
        str(target),
        *requirements,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BundleError(
            f"pip could not install the Lambda dependencies ({last_line}); the first full build "
            f"needs PyPI, later ones use the cache in .build/lambda — or synthesize without "
            f"them: -c {BUNDLE_CONTEXT_KEY}=source"
        )
    # Console scripts and byte code are of no use in Lambda and vary from build to build.
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def build_bundle(
    kind: BundleKind,
    *,
    project_root: Path = PROJECT_ROOT,
    cache_dir: Path | None = None,
) -> LambdaBundle:
    """The bundle for the current ``runtime/``, from the cache or built into it."""
    source_dir = project_root / SOURCE_PACKAGE
    if not source_dir.is_dir():
        raise BundleError(f"no {SOURCE_PACKAGE}/ package in {project_root}")
    cache_dir = cache_dir or project_root / ".build" / "lambda"
    requirements = pinned_requirements() if kind == "full" else []
    digest = bundle_digest(kind, requirements, source_dir)
    target = cache_dir / f"{kind}-{digest[:20]}"
    if target.is_dir():
        return LambdaBundle(path=target, digest=digest, kind=kind)

    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
    try:
        if kind == "full":
            _install_dependencies(requirements, staging)
        shutil.copytree(source_dir, staging / SOURCE_PACKAGE, ignore=_SKIPPED)
        try:
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # not a concurrent build of the same inputs: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if kind == "full":
        _prune_full_builds(cache_dir, keep=target)
    return LambdaBundle(path=target, digest=digest, kind=kind)


def _prune_full_builds(cache_dir: Path, *, keep: Path) -> None:
    """Full builds are tens of MB each: keep only the newest."""
    for old in cache_dir.glob("full-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
