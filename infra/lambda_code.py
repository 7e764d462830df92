"""The Lambda steps' code: a copy of ``runtime/`` plus its dependencies, built without Docker.

The dependencies are the whole tree pinned in ``infra/lambda-requirements.txt`` (``name==version``
only), which ``uv pip compile`` resolves for the functions' platform from the ``lambda``
dependency group in ``pyproject.toml`` (docs/deploy.md, The Lambda package). pip installs
exactly those pins, without resolving anything of its own (``--no-deps``), as prebuilt wheels
for the Lambda platform (arm64 Linux on Amazon Linux 2023, the Lambda's Python). boto3 and
botocore are in the tree, at one version: the runtime's own copies are never mixed with ours.
A build is cached under ``.build/lambda/`` by a digest of everything that goes into it, so only
a change to ``runtime/`` or to a pin rebuilds.

Two kinds of package, chosen with ``-c demand:lambda-bundle=full|source``:

- ``full`` (the default): dependencies and source; what a deployment needs. The first build
  reaches PyPI; later ones are served from the cache.
- ``source``: ``runtime/`` only; synthesizes offline in well under a second. For tests and for
  reviewing templates — functions deployed from it fail on their first import.
"""

from __future__ import annotations

import hashlib
import os
import re
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
LAMBDA_ARCHITECTURE = "aarch64"  # the functions run on arm64
# The python3.14 runtime is Amazon Linux 2023, whose glibc is 2.34: a wheel for any manylinux
# up to that runs there. pip needs each one named.
LAMBDA_GLIBC = (2, 34)
LAMBDA_PLATFORMS = (
    *(f"manylinux_2_{minor}_{LAMBDA_ARCHITECTURE}" for minor in range(LAMBDA_GLIBC[1], 16, -1)),
    f"manylinux2014_{LAMBDA_ARCHITECTURE}",
)
REQUIREMENTS_FILE = Path("infra") / "lambda-requirements.txt"
# A line of the requirements file: a pin, and nothing else (no ranges, URLs or pip options).
_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*")

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


def read_requirements(path: Path) -> list[str]:
    """The ``name==version`` pins of a requirements file, in its order.

    Comments and blank lines are skipped; anything else — a range, an extra, a URL, an index or
    any other pip option — is refused, naming the line: the bundle is built from versions alone.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(
            f"cannot read the Lambda requirements {path} ({exc.strerror or exc}); regenerate it "
            "as docs/deploy.md (The Lambda package) says"
        ) from None
    pins: list[str] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if _PIN.fullmatch(line):
            pins.append(line)
        else:
            problems.append(f"{path}:{number}: {line!r} is not a name==version pin")
    if problems:
        raise BundleError("; ".join(problems))
    if not pins:
        raise BundleError(f"{path} pins nothing; regenerate it as docs/deploy.md says")
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
    digest.update(f"{kind}\n{LAMBDA_PYTHON_VERSION}\n{' '.join(LAMBDA_PLATFORMS)}\n".encode())
    if kind == "full":
        digest.update("\n".join(requirements).encode())
    for path in _source_files(source_dir):
        digest.update(b"\0" + path.relative_to(source_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _install_dependencies(requirements: list[str], target: Path) -> None:
    platforms = [option for platform in LAMBDA_PLATFORMS for option in ("--platform", platform)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        # The pins are the whole tree: pip resolves nothing, so nothing unpinned slips in.
        "--no-deps",
        *platforms,
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
    installed = installed_distributions(target)
    wanted = {_normalized(pin.split("==")[0]): pin.split("==")[1] for pin in requirements}
    if installed != wanted:
        differences = sorted(
            f"{name}: pinned {wanted.get(name, '(not pinned)')}, installed "
            f"{installed.get(name, '(nothing)')}"
            for name in set(installed) | set(wanted)
            if installed.get(name) != wanted.get(name)
        )
        raise BundleError("pip installed other than the pins: " + "; ".join(differences))
    # Console scripts and byte code are of no use in Lambda and vary from build to build.
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions(target: Path) -> dict[str, str]:
    """Normalized name → version of every distribution installed in ``target``."""
    found: dict[str, str] = {}
    for metadata in sorted(target.glob("*.dist-info/METADATA")):
        fields = dict(
            line.split(": ", 1)
            for line in metadata.read_text(encoding="utf-8").split("\n\n", 1)[0].splitlines()
            if ": " in line
        )
        found[_normalized(fields.get("Name", ""))] = fields.get("Version", "")
    return found


def build_bundle(
    kind: BundleKind,
    *,
    project_root: Path = PROJECT_ROOT,
    cache_dir: Path | None = None,
) -> LambdaBundle:
    """The bundle for the current ``runtime/``, from the cache or built into it.

    A full bundle installs the pins of ``project_root / REQUIREMENTS_FILE``.
    """
    source_dir = project_root / SOURCE_PACKAGE
    if not source_dir.is_dir():
        raise BundleError(f"no {SOURCE_PACKAGE}/ package in {project_root}")
    cache_dir = cache_dir or project_root / ".build" / "lambda"
    requirements = read_requirements(project_root / REQUIREMENTS_FILE) if kind == "full" else []
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
