"""How the sync engine reaches S3: endpoint, region, addressing and transfer tuning.

:meth:`S3Config.from_environment` follows the standard AWS settings in the one order every
``demand`` command uses (:mod:`runtime.aws_config`: ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
``AWS_REGION`` / ``AWS_DEFAULT_REGION``, the profile's ``region`` / ``endpoint_url``) — without
importing botocore, whose import alone costs a short sync more than its transfers. With no
region anywhere, AWS's S3 is refused rather than guessed; an S3-compatible endpoint (moto,
MinIO, rclone) gets ``us-east-1``, which they all accept. Credentials come from the CRT's
default chain (environment, profile files, web identity, ECS and EC2 metadata), which is what
Lambda and Batch provide.

Tuning, for endpoints and machines that need it: ``DEMAND_SYNC_PART_SIZE``,
``DEMAND_SYNC_MULTIPART_THRESHOLD`` and ``DEMAND_SYNC_MEMORY_LIMIT`` (sizes such as ``8MiB``),
``DEMAND_SYNC_MAX_IN_FLIGHT``, ``DEMAND_SYNC_CONNECTIONS_PER_OBJECT``,
``DEMAND_SYNC_THROUGHPUT_GBPS`` and ``DEMAND_SYNC_ADDRESSING_STYLE`` (auto, path, virtual).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from runtime import aws_config
from runtime.sync.errors import SyncLocationError, SyncSettingsError

MiB = 1 << 20
GiB = 1 << 30
SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": MiB, "G": GiB, "T": 1 << 40}
# Upper bounds of settings the CRT takes as fixed-width integers: its Python binding converts
# without an overflow check, so a larger number silently wraps around (a memory limit of
# 2**64 + 128 MiB reached the CRT as 128 MiB and failed with a traceback). Each is far above
# any sensible value and far below the wrap.
MAX_MEMORY_LIMIT = 1 << 40  # 1 TiB
MAX_CONNECTIONS = 1024  # per object; the CRT's client-wide pool is smaller still
MAX_IN_FLIGHT = 10_000  # objects; each in-flight upload holds an open file
MAX_THROUGHPUT_GBPS = 1000.0  # the CRT sizes its connection pool from it


@dataclass(frozen=True, kw_only=True)
class S3Config:
    """Settings of the CRT client. A plain frozen dataclass (hashable: one client per config),
    so that the engine's own command line starts without importing pydantic."""

    endpoint_url: str | None = None  # None: AWS's regional endpoint
    region: str = "us-east-1"
    # "auto": virtual-hosted on AWS, path-style on any other endpoint (what they all accept).
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Transfer tuning. Parts of 8 MiB balance per-request overhead against memory.
    part_size: int = 8 * MiB
    # Uploads up to this size are a single PUT. S3 takes at most 5 GiB in one PUT.
    multipart_threshold: int = 16 * MiB
    throughput_target_gbps: float = 5.0
    # The sync's memory budget (the CRT's minimum): the CRT's part buffers stay within it, and
    # the bodies held outside them take a quarter of it (runtime.sync.budget). Measured peak
    # resident memory stays under it: tests/runtime/sync/test_memory.py.
    memory_limit: int = 256 * MiB
    # Objects whose transfers may be in flight at once (the client pools the connections).
    max_in_flight: int = 256
    # Connections one object's parts may use: more makes one large file fight itself for
    # the destination file's lock in the kernel (measured: 4-8 is steadiest on local disks).
    connections_per_object: int = 8
    # Retries of one request on throttling / 5xx / dropped connections, with backoff.
    max_retries: int = 5
    retry_backoff_ms: int = 250

    def __post_init__(self) -> None:
        problems = [
            text
            for ok, text in (
                (
                    self.addressing_style in ("auto", "path", "virtual"),
                    "addressing_style must be auto, path or virtual",
                ),
                (
                    5 * MiB <= self.part_size <= 5 * GiB,
                    "part_size must be between 5 MiB and 5 GiB (S3's limits)",
                ),
                (
                    # The CRT refuses a client whose parts take over half its memory.
                    self.part_size * 2 <= self.memory_limit,
                    "part_size must be at most half of memory_limit (the CRT's rule)",
                ),
                (
                    5 * MiB <= self.multipart_threshold <= 5 * GiB,
                    "multipart_threshold must be between 5 MiB and 5 GiB",
                ),
                (
                    math.isfinite(self.throughput_target_gbps)
                    and 0 < self.throughput_target_gbps <= MAX_THROUGHPUT_GBPS,
                    f"throughput_target_gbps must be above 0 and at most {MAX_THROUGHPUT_GBPS:g}",
                ),
                (
                    256 * MiB <= self.memory_limit <= MAX_MEMORY_LIMIT,
                    "memory_limit must be between 256 MiB (the CRT's minimum) and 1 TiB",
                ),
                (
                    1 <= self.max_in_flight <= MAX_IN_FLIGHT,
                    f"max_in_flight must be between 1 and {MAX_IN_FLIGHT}",
                ),
                (
                    1 <= self.connections_per_object <= MAX_CONNECTIONS,
                    f"connections_per_object must be between 1 and {MAX_CONNECTIONS}",
                ),
                (self.max_retries >= 0, "max_retries must not be negative"),
                (self.retry_backoff_ms >= 1, "retry_backoff_ms must be at least 1"),
            )
            if not ok
        ]
        if problems:
            raise ValueError("invalid S3Config: " + "; ".join(problems))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> S3Config:
        env = os.environ if environ is None else environ
        endpoint = aws_config.endpoint_url("s3", env)
        region = aws_config.region(env)
        if region is None and endpoint is None:
            raise SyncLocationError(
                "no AWS region for S3: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), "
                f"or give profile {aws_config.profile_name(env)!r} a region"
            )
        return cls._tuned(env, endpoint_url=endpoint, region=region or "us-east-1")

    @classmethod
    def _tuned(cls, env: Mapping[str, str], **fields: object) -> S3Config:
        tuning = _tuning(env)
        try:
            return cls(**fields, **tuning)  # type: ignore[arg-type]
        except ValueError as exc:  # a limit of S3's or the CRT's
            raise SyncSettingsError(_named_for_the_environment(str(exc))) from None


def check_tuning(environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`SyncSettingsError` (one line naming each variable and what it takes) for
    ``DEMAND_SYNC_*`` settings the engine or the CRT would refuse — without needing a region
    or an endpoint, so a command can refuse them before anything starts."""
    S3Config._tuned(os.environ if environ is None else environ)


# The tuning variables: the field each sets, and how its text is read.
TUNING_VARIABLES: dict[str, tuple[str, str]] = {
    "DEMAND_SYNC_PART_SIZE": ("part_size", "size"),
    "DEMAND_SYNC_MULTIPART_THRESHOLD": ("multipart_threshold", "size"),
    "DEMAND_SYNC_MEMORY_LIMIT": ("memory_limit", "size"),
    "DEMAND_SYNC_MAX_IN_FLIGHT": ("max_in_flight", "count"),
    "DEMAND_SYNC_CONNECTIONS_PER_OBJECT": ("connections_per_object", "count"),
    "DEMAND_SYNC_THROUGHPUT_GBPS": ("throughput_target_gbps", "number"),
    "DEMAND_SYNC_ADDRESSING_STYLE": ("addressing_style", "style"),
}


def _tuning(env: Mapping[str, str]) -> dict[str, object]:
    """The tuning fields set in ``env``, each read on its own so that a bad one is named (one
    line: the variable and what it takes), never a traceback."""
    tuning: dict[str, object] = {}
    problems: list[str] = []
    for name, (field_name, kind) in TUNING_VARIABLES.items():
        text = env.get(name, "").strip()
        if not text:
            continue
        read, takes = _READERS[kind]
        try:
            tuning[field_name] = read(text)
        except ValueError:
            problems.append(f"{name}={text!r}: takes {takes}")
    if problems:
        raise SyncSettingsError("; ".join(problems))
    return tuning


def _named_for_the_environment(problem: str) -> str:
    """S3Config's message in the variables' names (the limits are S3Config's own)."""
    text = problem.removeprefix("invalid S3Config: ")
    for name, (field_name, _) in TUNING_VARIABLES.items():
        text = re.sub(rf"\b{field_name}\b", name, text)
    return text


def _style(text: str) -> str:
    if text not in ("auto", "path", "virtual"):
        raise ValueError(text)
    return text


def parse_size(text: str) -> int:
    """``"8MiB"``, ``"8M"``, ``"1G"`` or a plain number of bytes."""
    match = SIZE_PATTERN.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    return int(match[1]) * SIZE_UNITS[match[2].upper()]


_READERS: dict[str, tuple[Callable[[str], object], str]] = {
    "size": (parse_size, "a size such as 8MiB, 16M, 1G or a number of bytes"),
    "count": (int, "a whole number"),
    "number": (float, "a number"),
    "style": (_style, "auto, path or virtual"),
}
