"""Every price the cost estimate uses, in one place: AWS list prices for one region, dated.

Change a figure here and every report changes with it. These are public on-demand list prices
(no free tier, no savings plans, no taxes), so a report says "estimate" wherever it shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PRICES_AS_OF: Final = "2025-06-01"
PRICES_REGION: Final = "us-east-1"
PRICES_SOURCE: Final = (
    "AWS public list prices for us-east-1, Linux, on-demand: aws.amazon.com/ec2/pricing/on-demand, "
    "/step-functions/pricing, /lambda/pricing, /s3/pricing, /efs/pricing"
)


@dataclass(frozen=True)
class InstancePrice:
    vcpus: int
    memory_gib: int
    gpus: int
    usd_per_hour: float  # on-demand


# The instance types the environments' compute settings name in cdk.json and their neighbours;
# a type not listed is priced from the resources the job asked for instead.
INSTANCE_PRICES: Final[dict[str, InstancePrice]] = {
    "c6i.large": InstancePrice(2, 4, 0, 0.085),
    "c6i.xlarge": InstancePrice(4, 8, 0, 0.17),
    "c6i.2xlarge": InstancePrice(8, 16, 0, 0.34),
    "c6i.4xlarge": InstancePrice(16, 32, 0, 0.68),
    "m6i.large": InstancePrice(2, 8, 0, 0.096),
    "m6i.xlarge": InstancePrice(4, 16, 0, 0.192),
    "m6i.2xlarge": InstancePrice(8, 32, 0, 0.384),
    "m6i.4xlarge": InstancePrice(16, 64, 0, 0.768),
    "r6i.large": InstancePrice(2, 16, 0, 0.126),
    "r6i.xlarge": InstancePrice(4, 32, 0, 0.252),
    "r6i.2xlarge": InstancePrice(8, 64, 0, 0.504),
    "m5.large": InstancePrice(2, 8, 0, 0.096),
    "m5.xlarge": InstancePrice(4, 16, 0, 0.192),
    "c5.large": InstancePrice(2, 4, 0, 0.085),
    "c5.xlarge": InstancePrice(4, 8, 0, 0.17),
    "r5.large": InstancePrice(2, 16, 0, 0.126),
    "g4dn.xlarge": InstancePrice(4, 16, 1, 0.526),
    "g4dn.2xlarge": InstancePrice(8, 32, 1, 0.752),
    "g5.xlarge": InstancePrice(4, 16, 1, 1.006),
    "g5.2xlarge": InstancePrice(8, 32, 1, 1.212),
}
# A job whose instance type is not known pays its share of the cheapest instance family that
# fits what it asked for: per vCPU-hour, with the family's memory per vCPU (c 2, m 4, r 8 GiB).
FAMILY_VCPU_HOUR_USD: Final[dict[str, tuple[float, float]]] = {
    "c6i": (0.0425, 2.0),
    "m6i": (0.048, 4.0),
    "r6i": (0.063, 8.0),
}
# A GPU job without a known instance type: its share of a g4dn.xlarge (1 GPU, 4 vCPU, 16 GiB).
GPU_REFERENCE_INSTANCE: Final = "g4dn.xlarge"
# Spot prices move by zone and by hour; this is a typical discount (about 65 % off on-demand),
# not a quote.
SPOT_FRACTION_OF_ON_DEMAND: Final = 0.35

# Step Functions, Standard workflows: per state transition ($0.025 per 1,000).
STEP_FUNCTIONS_TRANSITION_USD: Final = 0.000025
# Lambda, x86: per GB-second of duration, and per request ($0.20 per million).
LAMBDA_GB_SECOND_USD: Final = 0.0000166667
LAMBDA_REQUEST_USD: Final = 0.0000002
# S3 Standard requests: PUT, COPY, POST, LIST ($0.005 per 1,000); GET, HEAD ($0.0004 per 1,000).
S3_WRITE_REQUEST_USD: Final = 0.000005
S3_READ_REQUEST_USD: Final = 0.0000004
# Data from S3 to a machine outside AWS (a laptop): the first tier of data transfer out.
S3_INTERNET_OUT_GB_USD: Final = 0.09
# Between S3 and Lambda or EC2 in the same region, data moves free of charge.
S3_SAME_REGION_GB_USD: Final = 0.0
# EFS Elastic Throughput: per GB read and per GB written (the environments' default mode).
EFS_READ_GB_USD: Final = 0.03
EFS_WRITE_GB_USD: Final = 0.06

# How many objects one LIST request covers, for counting the requests a staging made.
S3_LIST_PAGE: Final = 1000
GB: Final = 1024**3
