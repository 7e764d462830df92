"""The bound of a sync case: the time the slowest resource it needs allows, and which one.

Two resources are accounted for:

- the endpoint and the network (the disk too) as s5cmd measures them: s5cmd's time for the
  same case, in the same run (s5cmd verifies nothing, so it pays for no check);
- MD5, for a download whose objects' only check is an MD5 ETag: their bytes hashed at this
  machine's rate (measured in the run) on min(cores, objects) cores, one object per core.

A download whose objects carry a checksum the CRT validates as the bytes arrive needs no pass of
its own over them (none), and neither does an upload (the CRT computes the checksum S3 checks as
it sends) or a nothing-to-do re-sync.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

MEASURE_PASSES = 3


@dataclass(frozen=True)
class Bound:
    endpoint: float | None  # s5cmd's seconds for the case; None when s5cmd did not run it
    md5: float | None  # seconds of MD5 the case needs; None when it needs none

    @property
    def seconds(self) -> float | None:
        found = [value for value in (self.endpoint, self.md5) if value is not None]
        return max(found) if found else None

    @property
    def name(self) -> str:
        if self.md5 is not None and (self.endpoint is None or self.md5 > self.endpoint):
            return "MD5"
        return "endpoint" if self.endpoint is not None else "-"


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def md5_rate(buffer_bytes: int) -> float:
    """hashlib.md5's rate on one core of this machine, bytes per second (best of a few passes
    over one buffer: the least disturbed by whatever else runs)."""
    block = os.urandom(2**20)
    buffer = block * max(1, buffer_bytes // len(block))
    best = float("inf")
    for _ in range(MEASURE_PASSES):
        started = time.perf_counter()
        hashlib.md5(buffer).digest()
        best = min(best, time.perf_counter() - started)
    return len(buffer) / best


def md5_seconds(objects: int, total_bytes: int, rate: float, cores: int) -> float:
    """MD5 over ``total_bytes`` in ``objects`` equal objects, spread over the cores there are."""
    return total_bytes / (rate * max(1, min(cores, objects)))
