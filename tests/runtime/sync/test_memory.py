"""Memory bounded whatever the size (issue 17 part 2): the peak resident memory of a sync, run
as the process a user runs, stays under its budget (DEMAND_SYNC_MEMORY_LIMIT, 256 MiB by
default) while it moves more bytes than the budget — one large single PUT, many single PUTs
at once, one large download. Measured by the kernel (``ru_maxrss`` of the finished child), not
by the clock. Before the budget, a single PUT held the whole file (2 GiB: 2.1 GB resident) and
64 single PUTs of 15 MiB took 431 MiB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1 << 20
BUDGET = 256 * MiB
REPOSITORY = Path(__file__).parents[3]

pytestmark = pytest.mark.slow


# Run through a small launcher: a child forked from pytest (moto's objects in its memory)
# would report pytest's size, as Linux carries the parent's peak across fork and exec.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(done.stderr)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)\n"
)


def peak_resident(arguments: list[str], env: dict[str, str]) -> int:
    """Run ``python -m runtime.sync ARGUMENTS``; its peak resident memory in bytes."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "runtime.sync", *arguments],
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout) * 1024  # KiB on Linux


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk (the sync reads zeros all the same)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_a_single_put_larger_than_the_budget_streams_from_the_file(
    server_env: dict[str, str], server_client: S3Client, bucket: str, tmp_path: Path
) -> None:
    size = 320 * MiB
    sparse(tmp_path / "src" / "big.bin", size)
    env = server_env | {"DEMAND_SYNC_MULTIPART_THRESHOLD": "5GiB"}  # one PUT, as for rclone
    peak = peak_resident([str(tmp_path / "src"), f"s3://{bucket}/one/"], env)
    assert peak < BUDGET, f"{peak / MiB:.0f} MiB resident"
    head = server_client.head_object(Bucket=bucket, Key="one/big.bin")
    assert head["ContentLength"] == size
    assert "-" not in head["ETag"]  # one PUT, not parts
    server_client.delete_object(Bucket=bucket, Key="one/big.bin")


def test_many_single_puts_at_once_stay_within_the_budget(
    server_env: dict[str, str], server_client: S3Client, bucket: str, tmp_path: Path
) -> None:
    for index in range(24):  # 360 MiB in PUTs of 15 MiB, all in flight at once
        sparse(tmp_path / "src" / f"f{index:02d}.bin", 15 * MiB)
    env = server_env | {"DEMAND_SYNC_MAX_IN_FLIGHT": "64"}
    peak = peak_resident([str(tmp_path / "src"), f"s3://{bucket}/many/"], env)
    assert peak < BUDGET, f"{peak / MiB:.0f} MiB resident"
    listed = server_client.list_objects_v2(Bucket=bucket, Prefix="many/")
    assert [item["Size"] for item in listed["Contents"]] == [15 * MiB] * 24
    server_client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": item["Key"]} for item in listed["Contents"]]}
    )


def test_a_download_larger_than_the_budget_stays_within_it(
    server_env: dict[str, str], server_client: S3Client, bucket: str, tmp_path: Path
) -> None:
    size = 320 * MiB
    source = sparse(tmp_path / "src" / "big.bin", size)
    server_client.upload_file(str(source), bucket, "down/big.bin")
    peak = peak_resident([f"s3://{bucket}/down/", str(tmp_path / "dst")], server_env)
    assert peak < BUDGET, f"{peak / MiB:.0f} MiB resident"
    assert (tmp_path / "dst" / "big.bin").stat().st_size == size
    server_client.delete_object(Bucket=bucket, Key="down/big.bin")
