"""The full Lambda package, built as a synth builds it: compiled for the functions' runtime and
architecture, and enough on its own for every handler to import.

Building it needs PyPI the first time (pip's cache after that). This machine is x86_64 and may
run another Python than the functions' 3.14, so the package's aarch64 extensions cannot load
here: they are checked by their tags and ELF headers, and the imports run in a copy of the
package whose extensions alone are swapped for this machine's builds of the same pinned
releases — every Python file imported is the package's own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from infra.lambda_code import (
    LAMBDA_GLIBC,
    PROJECT_ROOT,
    REQUIREMENTS_FILE,
    build_bundle,
    installed_distributions,
    read_requirements,
)

pytestmark = pytest.mark.slow

PYTHON_TAG = "cp314"
EXTENSION_SUFFIX = re.compile(r"\.(?:cpython-314-aarch64-linux-gnu|abi3)\.so$")
ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183
MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_aarch64|manylinux2014_aarch64")
HANDLERS = sorted(
    f"runtime.handlers.{path.stem}"
    for path in (PROJECT_ROOT / "runtime" / "handlers").glob("*.py")
    if "\ndef handler(" in path.read_text()
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle("full", cache_dir=tmp_path_factory.mktemp("lambda")).path


def _owners(bundle: Path) -> dict[str, Path]:
    """Each file's path in the package → the dist-info of the distribution that installed it."""
    owners: dict[str, Path] = {}
    for record in bundle.glob("*.dist-info/RECORD"):
        for line in record.read_text().splitlines():
            owners[line.split(",", 1)[0]] = record.parent
    return owners


def _wheel_tags(dist_info: Path) -> list[str]:
    return [
        line.split(": ", 1)[1]
        for line in (dist_info / "WHEEL").read_text().splitlines()
        if line.startswith("Tag: ")
    ]


def _runs_on_the_functions_runtime(tag: str) -> bool:
    interpreter, abi, platform = tag.split("-")
    if platform != "any":
        glibc = MANYLINUX.fullmatch(platform)
        if glibc is None:
            return False
        if glibc.group(1) and (int(glibc.group(1)), int(glibc.group(2))) > LAMBDA_GLIBC:
            return False
    if abi == "none":  # no extension modules (an executable at most, for the platform above)
        return interpreter.startswith("py")
    if abi == "abi3":  # the stable ABI of that CPython and any later one
        return interpreter.startswith("cp3") and int(interpreter[3:]) <= int(PYTHON_TAG[3:])
    return interpreter == PYTHON_TAG and abi == PYTHON_TAG


def _elf_machine(path: Path) -> int | None:
    with path.open("rb") as file:
        header = file.read(20)
    if not header.startswith(ELF_MAGIC):
        return None
    assert header[4] == 2, f"{path.name}: not a 64-bit ELF file"
    assert header[5] == 1, f"{path.name}: not little-endian"
    return int.from_bytes(header[18:20], "little")


def test_the_package_holds_exactly_the_pins(bundle: Path) -> None:
    pins = read_requirements(PROJECT_ROOT / REQUIREMENTS_FILE)
    assert installed_distributions(bundle) == {
        canonicalize_name(pin.split("==")[0]): pin.split("==")[1] for pin in pins
    }
    assert (bundle / "runtime" / "handlers").is_dir()
    assert not list(bundle.rglob("*.pyc"))


def test_every_wheel_is_for_the_functions_runtime(bundle: Path) -> None:
    problems = [
        f"{dist_info.name}: {tag}"
        for dist_info in sorted(bundle.glob("*.dist-info"))
        for tag in _wheel_tags(dist_info)
        if not _runs_on_the_functions_runtime(tag)
    ]
    assert not problems, "wheels that do not run on CPython 3.14, aarch64, glibc 2.34: " + str(
        problems
    )


def test_compiled_extensions_are_cpython_314_aarch64(bundle: Path) -> None:
    owners = _owners(bundle)
    compiled = [path for path in sorted(bundle.rglob("*")) if path.is_file() and _elf_machine(path)]
    # pydantic-core, awscrt, PyYAML and wrapt ship extensions; pydantic cannot run without one.
    assert any(path.parent.name == "pydantic_core" for path in compiled)
    for path in compiled:
        relative = path.relative_to(bundle).as_posix()
        assert _elf_machine(path) == EM_AARCH64, f"{relative} is not an aarch64 binary"
        if path.suffix == ".so":
            assert EXTENSION_SUFFIX.search(path.name), f"{relative}: not for CPython 3.14 aarch64"
        owner = owners.get(relative)
        assert owner is not None, f"{relative} belongs to no installed distribution"
        tags = _wheel_tags(owner)
        assert all(tag.split("-")[2] != "any" for tag in tags), f"{relative}: from {tags}"


def _host_twin(bundle: Path, destination: Path) -> Path:
    """A copy of the package whose extension modules are this machine's builds of the same
    pinned releases: the only files that differ from the package are compiled ones."""
    twin = destination / "package"
    shutil.copytree(bundle, twin)
    owners = _owners(bundle)
    by_distribution: dict[Path, list[str]] = {}
    for path in sorted(twin.rglob("*.so")):
        relative = path.relative_to(twin).as_posix()
        by_distribution.setdefault(owners[relative], []).append(relative)
        path.unlink()
    wheels = destination / "wheels"
    pins = [
        f"{dist_info.name.split('-')[0]}=={dist_info.name.split('-')[1].removesuffix('.dist')}"
        for dist_info in by_distribution
    ]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    download = subprocess.run(
        [*command, "--no-deps", "--only-binary=:all:", "--dest", str(wheels), *pins],
        capture_output=True,
        text=True,
        check=False,
    )
    assert download.returncode == 0, download.stderr
    for wheel in sorted(wheels.glob("*.whl")):
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        (wanted,) = (
            modules
            for dist_info, modules in by_distribution.items()
            if canonicalize_name(dist_info.name.split("-")[0]) == name
        )
        with zipfile.ZipFile(wheel) as archive:
            host = [member for member in archive.namelist() if member.endswith(".so")]
            # the same modules, each under this machine's suffix
            assert sorted(_module_of(member) for member in host) == sorted(
                _module_of(member) for member in wanted
            )
            for member in host:
                archive.extract(member, twin)
    return twin


def _module_of(path: str) -> str:
    directory, _, file = path.rpartition("/")
    return f"{directory}/{file.split('.', 1)[0]}"


@pytest.fixture(scope="module")
def twin(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _host_twin(bundle, tmp_path_factory.mktemp("twin"))


# -I: no PYTHON* variables, no user site, not the working directory; -S: no site-packages. The
# package is the whole path beyond the standard library, as /var/task is in Lambda.
IMPORT_ALONE = """
import importlib, json, sys, sysconfig
package, name = sys.argv[1], sys.argv[2]
sys.path.insert(0, package)
module = importlib.import_module(name)
assert callable(module.handler), name + " has no handler"
stdlib = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")})
outside = sorted(
    f"{loaded.__name__}: {loaded.__file__}"
    for loaded in list(sys.modules.values())
    if getattr(loaded, "__file__", None)
    and not loaded.__file__.startswith((package, *stdlib))
)
print(json.dumps({"outside": outside, "modules": sorted(sys.modules)}))
"""


def _lambda_environment(twin: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LAMBDA_TASK_ROOT": str(twin),
        "AWS_LAMBDA_FUNCTION_NAME": "demand-test-step",
        "AWS_REGION": "us-west-2",
        "AWS_DEFAULT_REGION": "us-west-2",
        "POWERTOOLS_SERVICE_NAME": "demand-test",
    }


def test_every_step_has_a_handler_module() -> None:
    assert {"runtime.handlers.prepare", "runtime.handlers.sync"} <= set(HANDLERS)


@pytest.mark.parametrize("handler", HANDLERS)
def test_the_handler_imports_from_the_package_alone(twin: Path, handler: str) -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", IMPORT_ALONE, str(twin), handler],
        capture_output=True,
        text=True,
        check=False,
        env=_lambda_environment(twin),
        cwd=twin,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outside"] == []
    # What the Lambda package never has.
    for absent in ("typer", "rich", "aws_cdk", "moto", "pytest"):
        assert absent not in report["modules"]
