"""What verifies the engine's downloads of a benchmark's objects: a checksum the CRT validates
as the bytes arrive, or the MD5 of the ETag (a pass over the bytes of its own).

    python -m benchmarks.checksums PREFIX    # in an endpoint's environment: prints JSON

:func:`require_stored` asks the endpoint (a HEAD with ``ChecksumMode=ENABLED`` per object, by
boto3, independent of the engine) that every object under a prefix carries a checksum.
:func:`verification` asks the engine itself: in a process of its own (the engine's CRT client
reads its endpoint and keys from the environment, as ``python -m runtime.sync`` does), it lists
the prefix with the engine's backend and downloads the first object the way the engine does,
reporting whether the CRT said it validated the checksum.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from benchmarks.endpoints import BUCKET, Endpoint

PROBE_TIMEOUT = 600.0  # seconds: one object of up to a few GiB from a slow endpoint


@dataclass(frozen=True)
class Verification:
    """How the engine's download of a data set is verified."""

    algorithm: str | None  # the checksum S3 holds for the objects, if any
    crt_validated: bool  # the CRT validated it as the bytes arrived

    def describe(self) -> str:
        if self.crt_validated:
            return f"{self.algorithm} (CRT)"
        return "MD5 ETag" if self.algorithm is None else f"MD5 ETag ({self.algorithm} unused)"


def require_stored(endpoint: Endpoint, prefix: str) -> str:
    """The checksum algorithm every object under ``prefix`` carries; raises if one has none."""
    client = endpoint.client()
    found: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{prefix}/"
    ):
        for item in page.get("Contents", []):
            reply = client.head_object(Bucket=BUCKET, Key=item["Key"], ChecksumMode="ENABLED")
            names = [
                name for name in reply if name.startswith("Checksum") and name != "ChecksumType"
            ]
            if not names:
                raise RuntimeError(f"{endpoint.name}: s3://{BUCKET}/{item['Key']} has no checksum")
            found.update(name.removeprefix("Checksum") for name in names)
    if len(found) != 1:
        raise RuntimeError(f"{endpoint.name}: objects under {prefix}/ carry {sorted(found)}")
    return found.pop()


def verification(endpoint: Endpoint, prefix: str) -> Verification:
    """How the engine verifies a download of the objects under ``prefix`` (asks the engine)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.checksums", prefix],
        env=endpoint.environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=PROBE_TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"checksum probe of {prefix}/ failed: {done.stderr.strip()[-500:]}")
    answer = json.loads(done.stdout)
    return Verification(answer["algorithm"], bool(answer["validated"]))


def _probe(prefix: str) -> dict[str, str | bool | None]:
    """In the endpoint's environment: the first object as the engine lists and downloads it."""
    from runtime.sync.crt_client import crt_backend
    from runtime.sync.settings import S3Config

    backend = crt_backend(S3Config.from_environment())
    entry = next(iter(backend.list_objects(BUCKET, f"{prefix}/")), None)
    if entry is None:
        raise RuntimeError(f"no objects under s3://{BUCKET}/{prefix}/")
    if entry.checksum_algorithm is None:  # the listing names none: the engine checks MD5
        return {"key": entry.relpath, "algorithm": None, "validated": False}
    landed = threading.Event()
    outcome: list[tuple[BaseException | None, bool]] = []

    def on_done(error: BaseException | None, validated: bool) -> None:
        outcome.append((error, validated))
        landed.set()

    with tempfile.TemporaryDirectory(prefix="checksum-probe-") as scratch:
        backend.download(BUCKET, entry, str(Path(scratch) / "object"), lambda _: None, on_done)
        if not landed.wait(PROBE_TIMEOUT):
            raise RuntimeError(f"the download of {entry.relpath} did not end")
    error, validated = outcome[0]
    if error is not None:
        raise error
    return {"key": entry.relpath, "algorithm": entry.checksum_algorithm, "validated": validated}


if __name__ == "__main__":
    print(json.dumps(_probe(sys.argv[1])))
