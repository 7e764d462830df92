"""The cost estimate: quantities a report measured, times the prices of runtime/report/prices.py.

Pure arithmetic; every line says what it counted, so a reader can check it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from runtime.report import prices
from runtime.report.model import CostEstimate, CostLine, JobFacts, Transfer


def usd_text(amount: float) -> str:
    return "under $0.000001" if 0 < amount < 0.000001 else f"${amount:.6f}"


def hourly_on_demand(job: JobFacts) -> tuple[float, str]:
    """What one hour of the job costs on demand, and how that was found."""
    listed = prices.INSTANCE_PRICES.get(job.instance_type or "")
    if listed is not None:
        return listed.usd_per_hour, (
            f"{job.instance_type} at its on-demand price (all of it: a job sharing it pays less)"
        )
    vcpus = float(job.vcpus or 1)
    memory_gib = (job.memory_mib or 2048) / 1024
    asked = f"{vcpus:g} vCPU, {memory_gib:g} GiB" + (f", {job.gpu} GPU" if job.gpu else "")
    if job.gpu:
        name = prices.GPU_REFERENCE_INSTANCE
        reference = prices.INSTANCE_PRICES[name]
        share = max(
            job.gpu / reference.gpus, vcpus / reference.vcpus, memory_gib / reference.memory_gib
        )
        return share * reference.usd_per_hour, f"{asked} asked: {share:g} × {name}"
    family, usd = min(
        (
            (family, per_vcpu * max(vcpus, memory_gib / gib_per_vcpu))
            for family, (per_vcpu, gib_per_vcpu) in prices.FAMILY_VCPU_HOUR_USD.items()
        ),
        key=lambda pair: pair[1],
    )
    return usd, f"{asked} asked: that share of a {family} instance"


def compute_lines(job: JobFacts) -> list[CostLine]:
    """The job's attempts, each paid for, on Spot or on demand as its queue runs them."""
    seconds = job.running_seconds
    hourly, basis = hourly_on_demand(job)
    spot = hourly * prices.SPOT_FRACTION_OF_ON_DEMAND
    attempts = len(job.attempts)
    counted = f"{attempts} attempt{'s' if attempts != 1 else ''}, {seconds:g} s; {basis}"
    if job.capacity == "spot":
        return [_line("compute (Spot)", seconds / 3600, "hours", spot, f"{counted}, Spot price")]
    note = counted
    if job.capacity == "spot or on-demand":
        note += f"; the queue prefers Spot: on Spot {usd_text(seconds / 3600 * spot)}"
    return [_line("compute (on-demand)", seconds / 3600, "hours", hourly, note)]


def _line(item: str, quantity: float, unit: str, unit_usd: float, note: str | None) -> CostLine:
    return CostLine(
        item=item,
        quantity=round(quantity, 6),
        unit=unit,
        unit_usd=unit_usd,
        usd=round(quantity * unit_usd, 8),
        note=note,
    )


def _pages(objects: int) -> int:
    return max(1, math.ceil(objects / prices.S3_LIST_PAGE))


def s3_request_lines(transfers: Sequence[Transfer]) -> list[CostLine]:
    """S3 requests of the transfers from or to ``s3://``: one per object moved, and the LISTs
    that compared them (multipart parts would add a few)."""
    remote = [t for t in transfers if t.remote.startswith("s3://")]
    reads = sum(t.transferred for t in remote if t.direction == "stage_in")
    writes = sum(t.transferred for t in remote if t.direction == "stage_out")
    lists = sum(_pages(t.objects) for t in remote)
    lines = []
    if reads:
        lines.append(
            _line(
                "S3 GET requests",
                reads,
                "requests",
                prices.S3_READ_REQUEST_USD,
                "≈ one per object staged in",
            )
        )
    if writes or lists:
        lines.append(
            _line(
                "S3 PUT and LIST requests",
                writes + lists,
                "requests",
                prices.S3_WRITE_REQUEST_USD,
                f"≈ {writes} PUT (one per object staged out), {lists} LIST",
            )
        )
    return lines


def _total(lines: list[CostLine], aside: str | None = None) -> CostEstimate:
    return CostEstimate(
        lines=lines,
        total_usd=round(sum(line.usd for line in lines), 8),
        prices_as_of=prices.PRICES_AS_OF,
        prices_source=prices.PRICES_SOURCE,
        region=prices.PRICES_REGION,
        aside=aside,
    )


def estimate_deployed(
    *,
    job: JobFacts | None,
    transitions: int,
    lambda_gb_seconds: float,
    lambda_requests: int,
    transfers: Sequence[Transfer],
) -> CostEstimate:
    lines = compute_lines(job) if job is not None and job.attempts else []
    lines.append(
        _line(
            "Step Functions transitions",
            transitions,
            "transitions",
            prices.STEP_FUNCTIONS_TRANSITION_USD,
            "states entered, as the execution history lists them",
        )
    )
    lines.append(
        _line(
            "Lambda duration",
            lambda_gb_seconds,
            "GB-seconds",
            prices.LAMBDA_GB_SECOND_USD,
            "each step's time in the history × its function's memory",
        )
    )
    lines.append(
        _line("Lambda requests", lambda_requests, "requests", prices.LAMBDA_REQUEST_USD, None)
    )
    lines += s3_request_lines(transfers)
    written = sum(t.bytes for t in transfers if t.direction == "stage_in") / prices.GB
    read = sum(t.bytes for t in transfers if t.direction == "stage_out") / prices.GB
    lines.append(
        _line("EFS writes (stage-in)", written, "GB", prices.EFS_WRITE_GB_USD, "Elastic Throughput")
    )
    lines.append(
        _line("EFS reads (stage-out)", read, "GB", prices.EFS_READ_GB_USD, "Elastic Throughput")
    )
    moved = written + read
    lines.append(
        _line(
            "S3 data moved",
            moved,
            "GB",
            prices.S3_SAME_REGION_GB_USD,
            "S3 ⇄ Lambda in one region moves free",
        )
    )
    return _total(lines)


def estimate_local(*, job: JobFacts, transfers: Sequence[Transfer]) -> CostEstimate:
    """A local run pays no compute; S3 requests and data out of AWS if it used a bucket there.
    Beside the total: what the same job would cost on AWS Batch."""
    lines = [_line("compute (this machine)", job.running_seconds / 3600, "hours", 0.0, None)]
    lines += s3_request_lines(transfers)
    downloaded = sum(
        t.bytes for t in transfers if t.direction == "stage_in" and t.remote.startswith("s3://")
    )
    if downloaded:
        lines.append(
            _line(
                "S3 data out to this machine",
                downloaded / prices.GB,
                "GB",
                prices.S3_INTERNET_OUT_GB_USD,
                "when the bucket is in AWS (a local S3 endpoint costs nothing)",
            )
        )
    hourly, basis = hourly_on_demand(job)
    spot = job.running_seconds / 3600 * hourly * prices.SPOT_FRACTION_OF_ON_DEMAND
    aside = f"On AWS Batch this job's compute would be about {usd_text(spot)} on Spot ({basis})."
    return _total(lines, aside)
