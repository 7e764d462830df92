"""The shared input cache: completion records, cache hits without reads, refreshes, and one
downloader among many stagers — processes on one machine standing in for Lambdas on one EFS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.sync.api import sync
from runtime.sync.cache import lock_path, read_header, read_lines, record_path, unseal
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.settings import S3Config
from tests.runtime.sync.conftest import read_tree
from tests.runtime.sync.faults import Faults

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FILES = {f"part-{i:02d}.dat": f"row {i}\n".encode() * (50 + i) for i in range(10)}
FILES["nested/deeper/x.json"] = b'{"x": 1}'


def stage(bucket: str, destination: Path, config: S3Config, **options: Any) -> SyncResult:
    request = SyncRequest(
        source=f"s3://{bucket}/input/", destination=str(destination), cached=True, **options
    )
    return sync(request, s3=config)


def arrange(client: S3Client, bucket: str, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        client.put_object(Bucket=bucket, Key=f"input/{name}", Body=body)


def test_second_stage_in_is_a_hit_without_reading_bodies(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    arrange(server_client, bucket, FILES)
    cache = tmp_path / "shared" / "abc123"
    cold = stage(bucket, cache, crt_config)
    assert (cold.transferred, cold.cache_hit) == (len(FILES), False)
    header = read_header(record_path(cache))
    assert header is not None
    assert (header.source, header.count) == (f"s3://{bucket}/input/", len(FILES))
    lines = {line.relpath: (line.size, line.etag) for line in read_lines(record_path(cache))}
    assert set(lines) == set(FILES)
    assert all(size == len(FILES[name]) and etag for name, (size, etag) in lines.items())

    faults.reads.clear()
    warm = stage(bucket, cache, crt_config)
    assert (warm.cache_hit, warm.transferred, warm.skipped) == (True, 0, len(FILES))
    assert sum(faults.reads.values()) == 0
    assert read_tree(cache) == FILES


def test_a_changed_source_refreshes_only_what_changed(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    arrange(server_client, bucket, FILES)
    cache = tmp_path / "cache"
    stage(bucket, cache, crt_config)
    changed = dict(FILES)
    changed["part-03.dat"] = b"same size? no, rewritten"
    changed["new.txt"] = b"added"
    del changed["part-07.dat"]
    arrange(server_client, bucket, {"part-03.dat": changed["part-03.dat"], "new.txt": b"added"})
    server_client.delete_object(Bucket=bucket, Key="input/part-07.dat")
    faults.reads.clear()

    refreshed = stage(bucket, cache, crt_config)
    assert not refreshed.cache_hit
    assert (refreshed.transferred, refreshed.deleted) == (2, 1)
    assert set(faults.reads) == {f"{bucket}/input/part-03.dat", f"{bucket}/input/new.txt"}
    assert read_tree(cache) == changed
    assert stage(bucket, cache, crt_config).cache_hit


def test_same_size_rewrite_is_caught(
    server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    arrange(server_client, bucket, {"a": b"version-1"})
    stage(bucket, tmp_path / "c", crt_config)
    arrange(server_client, bucket, {"a": b"version-2"})
    assert stage(bucket, tmp_path / "c", crt_config).transferred == 1
    assert (tmp_path / "c" / "a").read_bytes() == b"version-2"


def test_other_filters_are_another_selection(
    server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    arrange(server_client, bucket, FILES)
    stage(bucket, tmp_path / "c", crt_config)
    narrowed = stage(
        bucket, tmp_path / "c", crt_config, filters=(("exclude", "*"), ("include", "*.json"))
    )
    assert not narrowed.cache_hit
    assert set(read_tree(tmp_path / "c")) == {"nested/deeper/x.json"}


STAGER = """
import hashlib, json, sys
from pathlib import Path
from runtime.sync.model import SyncRequest
from runtime.sync.api import sync as run
summary = run(SyncRequest(source=sys.argv[1], destination=sys.argv[2], cached=True))
root = Path(sys.argv[2])
tree = sorted((p.relative_to(root).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
              for p in root.rglob("*") if p.is_file())
print(json.dumps({"transferred": summary.transferred, "hit": summary.cache_hit,
                  "done": summary.done, "tree": tree}))
"""


def test_eight_concurrent_stagers_download_once(
    faults: Faults,
    server_client: S3Client,
    bucket: str,
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    arrange(server_client, bucket, FILES)
    cache = tmp_path / "shared" / "input"
    faults.read_delay = 0.05  # long enough for the stagers to overlap
    stagers = [
        subprocess.Popen(
            [sys.executable, "-c", STAGER, f"s3://{bucket}/input/", str(cache)],
            env=server_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    reports = []
    for stager in stagers:
        out, err = stager.communicate(timeout=60)
        assert stager.returncode == 0, err
        reports.append(json.loads(out))
    expected = sorted(
        (name, __import__("hashlib").sha256(body).hexdigest()) for name, body in FILES.items()
    )
    assert all(
        report["done"] and report["tree"] == [list(t) for t in expected] for report in reports
    )
    assert sorted(report["transferred"] for report in reports) == [0] * 7 + [len(FILES)]
    assert set(faults.reads.values()) == {1}  # every object read exactly once, by one stager
    assert len(faults.reads) == len(FILES)


HOLDER = """
import sys, time
from pathlib import Path
from runtime.sync.lock import StagerLock
lock = StagerLock(Path(sys.argv[1]))
assert lock.try_acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_dead_stager_does_not_block_the_others(
    server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    arrange(server_client, bucket, FILES)
    cache = tmp_path / "cache"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_path(cache))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        # While the holder lives, a stager with a deadline gives up in time, with a cursor.
        request = SyncRequest(source=f"s3://{bucket}/input/", destination=str(cache), cached=True)
        waiting = sync(request, s3=crt_config, deadline=time.monotonic() + 0.5)
        assert (waiting.done, waiting.transferred) == (False, 0)
        assert waiting.cursor is not None
        # One without a deadline waits ... until the holder dies (SIGKILL: no clean-up).
        outcome: list[SyncResult] = []
        stager = threading.Thread(
            target=lambda: outcome.append(sync(request, s3=crt_config, cursor=waiting.cursor))
        )
        stager.start()
        time.sleep(0.3)
        assert stager.is_alive()
    finally:
        holder.kill()
        holder.wait()
    stager.join(timeout=30)
    assert not stager.is_alive()
    assert outcome[0].done
    assert outcome[0].transferred == len(FILES)
    assert read_tree(cache) == FILES


def test_a_damaged_cache_is_not_a_hit_and_is_repaired(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    arrange(server_client, bucket, FILES)
    cache = tmp_path / "shared" / "abc123"
    assert stage(bucket, cache, crt_config).transferred == len(FILES)
    unseal(cache)  # as a job could, where it can write (the cache is read-only: see below)
    for name in ("part-01.dat", "part-02.dat"):
        (cache / name).chmod(0o644)
    (cache / "part-00.dat").unlink()  # deleted
    (cache / "part-01.dat").write_bytes(b"garbage")  # overwritten, another size
    rewritten = cache / "part-02.dat"
    rewritten.write_bytes(b"R" * len(FILES["part-02.dat"]))  # same size, another mtime
    os.utime(rewritten, ns=(10**18, 10**18))  # whatever the file system's clock granularity
    (cache / "stray.txt").write_bytes(b"not from the source")  # added
    faults.reads.clear()
    repaired = stage(bucket, cache, crt_config)
    assert not repaired.cache_hit
    assert repaired.transferred == 3
    assert read_tree(cache) == FILES
    assert set(faults.reads) == {
        f"{bucket}/input/part-00.dat",
        f"{bucket}/input/part-01.dat",
        f"{bucket}/input/part-02.dat",
    }
    warm = stage(bucket, cache, crt_config)
    assert (warm.cache_hit, warm.transferred) == (True, 0)


def test_a_forced_cached_stage_in_is_not_answered_from_the_cache(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    arrange(server_client, bucket, FILES)
    cache = tmp_path / "shared" / "abc123"
    assert stage(bucket, cache, crt_config).transferred == len(FILES)
    faults.reads.clear()
    forced = stage(bucket, cache, crt_config, force=True)
    assert (forced.cache_hit, forced.transferred) == (False, len(FILES))
    assert sum(faults.reads.values()) == len(FILES)
    assert read_tree(cache) == FILES
    assert stage(bucket, cache, crt_config).cache_hit
