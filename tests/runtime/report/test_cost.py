"""The cost estimate's arithmetic, against the prices module's own figures."""

from __future__ import annotations

import pytest

from runtime.report import prices
from runtime.report.cost import compute_lines, estimate_deployed, estimate_local, hourly_on_demand
from runtime.report.model import Attempt, JobFacts, Transfer
from tests.runtime.report.reports import at


def job(**fields: object) -> JobFacts:
    attempts = [Attempt(number=1, started_at=at(0), stopped_at=at(3600))]
    return JobFacts.model_validate({"attempts": attempts, **fields})


def test_a_listed_instance_type_is_priced_as_listed() -> None:
    hourly, basis = hourly_on_demand(job(instance_type="m6i.xlarge", vcpus=1))
    assert hourly == prices.INSTANCE_PRICES["m6i.xlarge"].usd_per_hour
    assert "m6i.xlarge" in basis


def test_without_an_instance_type_the_cheapest_fitting_family_share_is_paid() -> None:
    # 2 vCPU and 4 GiB fit c6i's 2 GiB per vCPU at 2 vCPU: 2 × c6i's vCPU-hour.
    c_per_vcpu = prices.FAMILY_VCPU_HOUR_USD["c6i"][0]
    assert hourly_on_demand(job(vcpus=2, memory_mib=4096))[0] == pytest.approx(2 * c_per_vcpu)
    # 1 vCPU and 16 GiB: memory decides; r6i (8 GiB per vCPU) is cheapest for it.
    r_per_vcpu = prices.FAMILY_VCPU_HOUR_USD["r6i"][0]
    assert hourly_on_demand(job(vcpus=1, memory_mib=16384))[0] == pytest.approx(2 * r_per_vcpu)


def test_a_gpu_job_pays_its_share_of_the_gpu_reference_instance() -> None:
    reference = prices.INSTANCE_PRICES[prices.GPU_REFERENCE_INSTANCE]
    assert hourly_on_demand(job(vcpus=2, memory_mib=8192, gpu=1))[0] == pytest.approx(
        reference.usd_per_hour
    )
    assert hourly_on_demand(job(vcpus=8, memory_mib=8192, gpu=1))[0] == pytest.approx(
        2 * reference.usd_per_hour
    )


def test_every_attempt_is_paid_and_spot_is_the_spot_fraction() -> None:
    two = [
        Attempt(number=1, started_at=at(0), stopped_at=at(1800), spot_reclaimed=True),
        Attempt(number=2, started_at=at(1900), stopped_at=at(3700)),
    ]
    on_demand = compute_lines(job(instance_type="m6i.large", attempts=two))
    (line,) = on_demand
    assert line.quantity == pytest.approx(1.0)  # 1800 s + 1800 s
    assert line.usd == pytest.approx(prices.INSTANCE_PRICES["m6i.large"].usd_per_hour)
    (spot,) = compute_lines(job(instance_type="m6i.large", attempts=two, capacity="spot"))
    assert spot.usd == pytest.approx(line.usd * prices.SPOT_FRACTION_OF_ON_DEMAND)
    (either,) = compute_lines(
        job(instance_type="m6i.large", attempts=two, capacity="spot or on-demand")
    )
    assert either.usd == line.usd
    assert "on Spot" in (either.note or "")


def test_the_deployed_estimate_adds_its_lines() -> None:
    transfers = [
        Transfer(
            direction="stage_in", name="a", remote="s3://b/a", bytes=2 * prices.GB, transferred=3
        ),
        Transfer(
            direction="stage_out", name="o", remote="s3://b/o", bytes=prices.GB, transferred=2
        ),
    ]
    estimate = estimate_deployed(
        job=job(instance_type="c6i.large"),
        transitions=1000,
        lambda_gb_seconds=100.0,
        lambda_requests=10,
        transfers=transfers,
    )
    lines = {line.item: line.usd for line in estimate.lines}
    assert lines["Step Functions transitions"] == pytest.approx(0.025)
    assert lines["Lambda duration"] == pytest.approx(100 * prices.LAMBDA_GB_SECOND_USD)
    assert lines["S3 GET requests"] == pytest.approx(3 * prices.S3_READ_REQUEST_USD)
    # 2 PUT and a LIST per transfer.
    assert lines["S3 PUT and LIST requests"] == pytest.approx(4 * prices.S3_WRITE_REQUEST_USD)
    assert lines["EFS writes (stage-in)"] == pytest.approx(2 * prices.EFS_WRITE_GB_USD)
    assert lines["EFS reads (stage-out)"] == pytest.approx(prices.EFS_READ_GB_USD)
    assert lines["compute (on-demand)"] == pytest.approx(0.085)
    assert estimate.total_usd == pytest.approx(sum(lines.values()))
    assert estimate.prices_as_of == prices.PRICES_AS_OF
    assert estimate.prices_source == prices.PRICES_SOURCE


def test_a_local_run_pays_no_compute_but_says_what_aws_would_cost() -> None:
    local = job(vcpus=2, memory_mib=4096, capacity="local")
    files = [Transfer(direction="stage_in", name="a", remote="file:///a", bytes=10, transferred=1)]
    estimate = estimate_local(job=local, transfers=files)
    assert estimate.total_usd == 0
    spot = 2 * prices.FAMILY_VCPU_HOUR_USD["c6i"][0] * prices.SPOT_FRACTION_OF_ON_DEMAND
    assert f"${spot:.6f}" in (estimate.aside or "")
