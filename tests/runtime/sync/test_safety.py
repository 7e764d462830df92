"""The engine against hostile files and interruptions (docs/sync-safety.md): links never lead
out of a tree either way, the engine's own partial names collide with nothing, a tampered
cache is never served, and an interrupted sync aborts the multipart uploads it started."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runtime.sync import download, engine, listing, sides
from runtime.sync.api import sync
from runtime.sync.listing import Entry
from runtime.sync.model import SyncRequest, SyncResult
from runtime.sync.progress import ProgressSubscriber
from runtime.sync.settings import S3Config
from tests.runtime.sync.conftest import Store, partials, read_tree
from tests.runtime.sync.faults import Faults

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 2**20
SECRET = b"a host file that must never leave the machine"


def request(source: object, destination: object, **options: Any) -> SyncRequest:
    return SyncRequest(source=str(source), destination=str(destination), **options)


# -- 1. what is sent is a regular file inside the source, never a link's target ----------------


def hostile_tree(tmp_path: Path) -> tuple[Path, list[str]]:
    """A job's output dir: one good file, and every kind of thing that must not be sent."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_bytes(SECRET)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "ok.txt").write_bytes(b"ok")
    (src / "sub" / "fine.txt").write_bytes(b"fine")
    (src / "out-link").symlink_to(host / "secret")
    (src / "in-link").symlink_to(src / "ok.txt")  # even one inside: no link is followed
    (src / "dir-link").symlink_to(host)
    os.link(host / "secret", src / "hard")
    os.mkfifo(src / "fifo")
    refused = ["dir-link", "fifo", "hard", "in-link", "out-link"]
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(src / "sock"))
        refused.append("sock")
    except OSError:
        pass  # a path too long for a socket here
    finally:
        listener.close()
    try:
        os.mknod(src / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        refused.append("dev")
    except (PermissionError, OSError):
        pass  # no CAP_MKNOD here
    return src, sorted(refused)


def assert_refused(result: SyncResult, src: Path, names: list[str]) -> None:
    assert result.failed == len(names)
    assert not result.retryable  # the execution fails; retrying cannot help
    assert len(result.errors) == len(names)
    for name, line in zip(names, sorted(result.errors), strict=True):
        assert line.startswith(f"{src / name}: refused: ")


def test_an_upload_sends_regular_files_only_and_names_the_rest(
    store: Store, tmp_path: Path
) -> None:
    src, refused = hostile_tree(tmp_path)
    result = sync(request(src, store.url("out/")), s3=store.access)
    assert result.transferred == 2
    assert_refused(result, src, refused)
    assert store.tree("out/") == {"ok.txt": b"ok", "sub/fine.txt": b"fine"}
    assert any("a symbolic link" in line for line in result.errors)
    assert any("a hard link" in line for line in result.errors)
    assert any("a FIFO" in line for line in result.errors)


def test_a_local_copy_copies_regular_files_only(tmp_path: Path) -> None:
    src, refused = hostile_tree(tmp_path)
    result = sync(request(src, tmp_path / "dst"))
    assert result.transferred == 2
    assert_refused(result, src, refused)
    assert read_tree(tmp_path / "dst") == {"ok.txt": b"ok", "sub/fine.txt": b"fine"}


def test_a_source_that_is_a_link_is_refused(store: Store, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_bytes(SECRET)
    (tmp_path / "file-link").symlink_to(host / "secret")
    (tmp_path / "dir-link").symlink_to(host)
    for name in ("file-link", "dir-link"):
        result = sync(request(tmp_path / name, store.url("out/")), s3=store.access)
        assert (result.transferred, result.failed, result.retryable) == (0, 1, False)
        assert result.errors[0].startswith(f"{tmp_path / name}: refused: a symbolic link")
    assert store.tree("out/") == {}


def swapping_walk(swap: Any) -> Any:
    """A local listing that, right after listing each file, lets ``swap`` replace it — the
    job racing the stage-out between listing and reading."""
    walk = listing.walk_local

    def walk_then_swap(root: Path, **options: Any) -> Iterator[Entry]:
        for entry in walk(root, **options):
            if entry.relpath == "data.txt":
                swap(root / entry.relpath)
            yield entry

    return walk_then_swap


@pytest.mark.parametrize("swap_in", ["symlink", "hard link", "other file"])
def test_a_file_swapped_after_the_listing_is_not_read(
    swap_in: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_bytes(SECRET)
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.txt").write_bytes(b"x" * len(SECRET))  # the same size as the secret

    def swap(path: Path) -> None:
        if swap_in == "symlink":
            (src / "new").symlink_to(host / "secret")
        elif swap_in == "hard link":
            os.link(host / "secret", src / "new")
        else:  # a regular file of the same size, another inode: not the file listed
            (src / "new").write_bytes(SECRET)
        (src / "new").rename(path)

    monkeypatch.setattr(sides, "walk_local", swapping_walk(swap))
    result = sync(request(src, store.url("out/")), s3=store.access)
    assert (result.transferred, result.failed, result.retryable) == (0, 1, False)
    assert result.errors[0].startswith(f"{src / 'data.txt'}: refused: ")
    assert store.tree("out/") == {}


# -- 2. a download never writes through a link in its destination -----------------------------


def test_a_download_never_writes_through_a_linked_directory(store: Store, tmp_path: Path) -> None:
    store.put("in/", {"ok.txt": b"ok", "sub/x.txt": b"x", "sub/deeper/y.txt": b"y"})
    outside = tmp_path / "outside"
    outside.mkdir()
    destination = tmp_path / "dst"
    destination.mkdir()
    (destination / "sub").symlink_to(outside)
    result = sync(request(store.url("in/"), destination), s3=store.access)
    assert (result.transferred, result.failed, result.retryable) == (1, 2, False)
    assert all(line.startswith(f"{destination / 'sub'}: refused: ") for line in result.errors)
    assert list(outside.iterdir()) == []
    assert (destination / "ok.txt").read_bytes() == b"ok"
    assert partials(tmp_path) == []


def test_a_directory_swapped_for_a_link_during_a_download_is_not_written_through(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put("in/", {"sub/x.txt": b"x"})
    outside = tmp_path / "outside"
    outside.mkdir()
    destination = tmp_path / "dst"
    (destination / "sub").mkdir(parents=True)
    verify = download.verify

    def swap_then_verify(*args: Any, **kwargs: Any) -> None:
        # Between the directory's check and the rename into it: it becomes a link out.
        (destination / "sub").rename(tmp_path / "moved")
        (destination / "sub").symlink_to(outside)
        verify(*args, **kwargs)

    monkeypatch.setattr(download, "verify", swap_then_verify)
    monkeypatch.setattr(engine, "ATTEMPTS", 1)
    result = sync(request(store.url("in/"), destination), s3=store.access)
    assert (result.transferred, result.failed, result.retryable) == (0, 1, False)
    assert result.errors[0].startswith(f"{destination / 'sub'}: refused: ")
    assert list(outside.iterdir()) == []
    assert partials(tmp_path) == []


def test_a_destination_file_that_is_a_link_is_replaced_not_written_through(
    store: Store, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    target = host / "secret"
    # The same bytes as the object, and as many as the link's own size: nothing but the
    # file's type tells the link from a current copy.
    same = os.fsencode(target)
    target.write_bytes(same)
    store.put("in/", {"same.txt": same, "other.txt": b"new"})
    store.put("", {"one.txt": same})
    destination = tmp_path / "dst"
    destination.mkdir()
    for link in (destination / "same.txt", destination / "other.txt", tmp_path / "one.txt"):
        link.symlink_to(target)
    result = sync(request(store.url("in/"), destination), s3=store.access)
    single = sync(request(store.url("one.txt"), tmp_path / "one.txt"), s3=store.access)
    assert (result.transferred, result.failed, single.transferred) == (2, 0, 1)
    for path in (destination / "same.txt", destination / "other.txt", tmp_path / "one.txt"):
        assert not path.is_symlink()
    assert read_tree(destination) == {"same.txt": same, "other.txt": b"new"}
    assert (tmp_path / "one.txt").read_bytes() == same
    assert target.read_bytes() == same  # written through by none


# -- 3. the engine's temporary names collide with no real name ---------------------------------

PARTIAL_LOOKING = {
    "a.demand-partial": b"one",
    ".b.0123abcd-1-2.demand-partial": b"two",
    "d/c.demand-partial": b"three",
    ".x.sync-partials": b"four",
}


def test_names_like_partial_files_move_both_ways(store: Store, tmp_path: Path) -> None:
    store.put("in/", PARTIAL_LOOKING)
    down = sync(request(store.url("in/"), tmp_path / "dst"), s3=store.access)
    assert (down.transferred, down.failed, down.done) == (len(PARTIAL_LOOKING), 0, True)
    assert read_tree(tmp_path / "dst") == PARTIAL_LOOKING
    again = sync(request(store.url("in/"), tmp_path / "dst", delete=True), s3=store.access)
    assert (again.transferred, again.skipped, again.deleted) == (0, len(PARTIAL_LOOKING), 0)
    assert read_tree(tmp_path / "dst") == PARTIAL_LOOKING

    up = sync(request(tmp_path / "dst", store.url("up/")), s3=store.access)
    assert (up.transferred, up.failed) == (len(PARTIAL_LOOKING), 0)
    assert store.tree("up/") == PARTIAL_LOOKING


def test_a_cached_stage_in_of_names_like_partial_files(
    faults: Faults, server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path
) -> None:
    for name, body in PARTIAL_LOOKING.items():
        server_client.put_object(Bucket=bucket, Key=f"in/{name}", Body=body)
    cached = request(f"s3://{bucket}/in/", tmp_path / "shared" / "abc", cached=True)
    cold = sync(cached, s3=crt_config)
    assert (cold.transferred, cold.failed, cold.done) == (len(PARTIAL_LOOKING), 0, True)
    assert read_tree(tmp_path / "shared" / "abc") == PARTIAL_LOOKING
    faults.reads.clear()
    warm = sync(cached, s3=crt_config)
    assert (warm.cache_hit, sum(faults.reads.values())) == (True, 0)


# -- 4. a tampered cache is never served --------------------------------------------------------

CACHED = {"a.dat": b"A" * 1000, "sub/b.dat": b"B" * 1000}


@pytest.fixture
def staged(server_client: S3Client, bucket: str, crt_config: S3Config, tmp_path: Path) -> Path:
    for name, body in CACHED.items():
        server_client.put_object(Bucket=bucket, Key=f"in/{name}", Body=body)
    cache = tmp_path / "shared" / "abc"
    assert stage_in(bucket, cache, crt_config).transferred == len(CACHED)
    return cache


def stage_in(bucket: str, cache: Path, config: S3Config) -> SyncResult:
    return sync(request(f"s3://{bucket}/in/", cache, cached=True), s3=config)


def writable(path: Path) -> None:
    """What a job that can write there does first (the cache is read-only)."""
    for directory in (path.parent, *path.parent.parents):
        if directory.name == "shared":
            break
        directory.chmod(0o755)
    path.chmod(0o644)


@pytest.mark.parametrize("how", ["rewritten in place", "replaced"])
def test_a_cached_file_rewritten_with_its_mtime_restored_is_staged_again(
    how: str,
    staged: Path,
    faults: Faults,
    bucket: str,
    crt_config: S3Config,
) -> None:
    target = staged / "sub" / "b.dat"
    before = target.stat()
    writable(target)
    if how == "rewritten in place":
        with target.open("r+b") as handle:
            handle.write(b"EVIL")
    else:
        (staged / "sub" / "new").write_bytes(b"EVIL" + b"B" * 996)
        (staged / "sub" / "new").rename(target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # touch -r
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert target.stat().st_size == before.st_size
    faults.reads.clear()
    again = stage_in(bucket, staged, crt_config)
    assert (again.cache_hit, again.transferred) == (False, 1)
    assert set(faults.reads) == {f"{bucket}/in/sub/b.dat"}
    assert read_tree(staged) == CACHED
    assert stage_in(bucket, staged, crt_config).cache_hit


def test_cached_files_and_directories_are_read_only_and_refresh(
    staged: Path, server_client: S3Client, bucket: str, crt_config: S3Config
) -> None:
    def modes() -> dict[str, int]:
        paths = [staged, *staged.rglob("*")]
        return {p.relative_to(staged).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in paths}

    assert modes() == {".": 0o555, "a.dat": 0o444, "sub": 0o555, "sub/b.dat": 0o444}
    # A refresh writes into the sealed directories (a new file, a new directory, a changed
    # file, a deleted one) and seals them again.
    server_client.put_object(Bucket=bucket, Key="in/sub/new/c.dat", Body=b"C")
    server_client.put_object(Bucket=bucket, Key="in/a.dat", Body=b"a" * 1000)
    server_client.delete_object(Bucket=bucket, Key="in/sub/b.dat")
    refreshed = stage_in(bucket, staged, crt_config)
    assert (refreshed.cache_hit, refreshed.transferred, refreshed.deleted) == (False, 2, 1)
    assert read_tree(staged) == {"a.dat": b"a" * 1000, "sub/new/c.dat": b"C"}
    assert modes() == {
        ".": 0o555,
        "a.dat": 0o444,
        "sub": 0o555,
        "sub/new": 0o555,
        "sub/new/c.dat": 0o444,
    }
    assert stage_in(bucket, staged, crt_config).cache_hit


# -- 5. an interrupted sync aborts its multipart uploads ----------------------------------------


def big_tree(root: Path, files: int = 3, size: int = 20 * MiB) -> Path:
    root.mkdir()
    for i in range(files):
        (root / f"big{i}.bin").write_bytes(bytes([i]) * size)
    return root


def wait_for_upload(client: S3Client, bucket: str, process: subprocess.Popen[str] | None) -> None:
    give_up = time.monotonic() + 30
    while not client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
        assert process is None or process.poll() is None, "the sync ended before uploading"
        assert time.monotonic() < give_up, "no multipart upload was started"
        time.sleep(0.02)


def uploads_left(client: S3Client, bucket: str) -> list[str]:
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


COMMANDS = {
    "python -m runtime.sync": [sys.executable, "-m", "runtime.sync"],
    "demand sync": [sys.executable, "-m", "runtime.cli.app", "sync"],
}


@pytest.mark.parametrize(
    ("command", "signum", "status", "rclone"),
    [
        ("python -m runtime.sync", signal.SIGTERM, 143, False),
        ("python -m runtime.sync", signal.SIGINT, 130, False),
        ("demand sync", signal.SIGTERM, 143, False),
        # Multipart uploads the CRT handed to s3transfer (an endpoint answering as rclone).
        ("python -m runtime.sync", signal.SIGTERM, 143, True),
    ],
)
def test_a_signal_mid_upload_aborts_the_multipart_uploads(
    command: str,
    signum: int,
    status: int,
    rclone: bool,
    faults: Faults,
    server_client: S3Client,
    bucket: str,
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    source = big_tree(tmp_path / "bigdir")
    faults.part_delay = 0.5  # parts of 5 MiB: several seconds in all
    faults.rclone_initiate = rclone
    # A test run started in the background may have SIGINT ignored, and an ignored signal stays
    # ignored across exec: handled here, it is reset to its default in the child (as a user's
    # terminal gives it).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [*COMMANDS[command], str(source), f"s3://{bucket}/prefix/"],
            env=server_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        wait_for_upload(server_client, bucket, process)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == status, err
    assert "interrupted" in err
    assert "Traceback" not in err, err
    assert uploads_left(server_client, bucket) == []
    assert "Contents" not in server_client.list_objects_v2(Bucket=bucket, Prefix="prefix/")


class Slow(ProgressSubscriber):
    """Holds the transfer threads back as bytes move (the boto3 path on in-process moto)."""

    def on_progress(self, bytes: int) -> None:
        time.sleep(0.02)


def test_an_interrupted_sync_in_process_aborts_its_multipart_uploads(
    store: Store, faults: Faults, tmp_path: Path
) -> None:
    # What a Lambda's engine does when the runtime raises in it: the same cancel path.
    source = big_tree(tmp_path / "bigdir", files=2)
    faults.part_delay = 0.5
    main = threading.get_ident()

    def interrupt() -> None:
        wait_for_upload(store.client, store.bucket, None)
        signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        helper = threading.Thread(target=interrupt, daemon=True)
        helper.start()
        with pytest.raises(KeyboardInterrupt):
            sync(request(source, store.url("prefix/")), s3=store.access, progress=Slow())
        helper.join(5)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert uploads_left(store.client, store.bucket) == []
    assert store.tree("prefix/") == {}


def test_the_lean_command_line_imports_no_pydantic() -> None:
    probe = (
        "import sys, runtime.sync.__main__; "
        "print(sorted({'pydantic', 'typer', 'rich'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("command", "signum", "status"),
    [
        ("demand sync", signal.SIGINT, 130),
        ("demand sync", signal.SIGTERM, 143),
        ("python -m runtime.sync", signal.SIGINT, 130),
    ],
)
def test_a_download_stopped_by_a_signal_leaves_no_partial_file(
    command: str,
    signum: int,
    status: int,
    faults: Faults,
    server_client: S3Client,
    bucket: str,
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """What the README promises: after Ctrl-C or SIGTERM only whole, verified files remain —
    no partial file, and no partials directory beside the destination."""
    for i in range(12):
        server_client.put_object(Bucket=bucket, Key=f"in/f{i:02d}", Body=bytes([i]) * 300_000)
    faults.read_delay = 0.4  # bodies in flight for a while, a few at a time (4 in flight)
    destination = tmp_path / "dst"
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [*COMMANDS[command], f"s3://{bucket}/in/", str(destination)],
            env=server_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        give_up = time.monotonic() + 300  # a hang, not speed: start-up under load took > 30 s
        while not partials(tmp_path):  # transfers are under way: their partials exist
            assert process.poll() is None, "the sync ended before downloading"
            assert time.monotonic() < give_up, "no partial file appeared"
            time.sleep(0.01)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == status, err
    assert "Traceback" not in err
    assert partials(tmp_path) == []
    assert [path.name for path in tmp_path.iterdir()] in (["dst"], [])
    placed = read_tree(destination) if destination.exists() else {}
    assert len(placed) < 12
    assert all(body == bytes([int(name[1:])]) * 300_000 for name, body in placed.items())
