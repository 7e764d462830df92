"""What one execution costs the orchestration: state transitions, Lambda requests and time.

Runs the success scenario of the e2e harness (the synthesized state machine in moto, the
project's own Lambda steps in-process, a real local job) for executions with N inputs and N
outputs, and prints, per execution: the state transitions (from the execution history), the
Lambda invocations, and the Step Functions + Lambda cost at the public prices below. Then the
same request again under another id: a hit (docs/reuse.md), whose figures are printed too.

    .venv/bin/python -m benchmarks.orchestration            # 1 and 10 inputs/outputs
    .venv/bin/python -m benchmarks.orchestration --sizes 1 2 5

Lambda time is the time each handler took here, in-process, rounded up to Lambda's 1 ms
billing unit and charged at the function's configured memory: a stand-in for the real
duration (which adds network latency to S3 and EFS), stated as such.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.server import ThreadedMotoServer

from infra.application import build_app
from infra.lambda_code import BUNDLE_CONTEXT_KEY
from tests.e2e.harness import DATA_BUCKET, REGION, Harness, resources

# Public list prices, us-east-1, Standard workflows and arm64 Lambda (checked 2026-11):
# Step Functions $0.025 per 1,000 state transitions; Lambda $0.20 per million requests and
# $0.0000133334 per GB-second on arm64. Free tiers are left out.
PRICE_PER_TRANSITION = 0.025 / 1000
PRICE_PER_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_PER_GB_SECOND = 0.0000133334
# 12, and the Reused? Choice after Prepare that every execution passes (docs/reuse.md).
TARGET_TRANSITIONS = 13


@dataclass(frozen=True)
class Measurement:
    size: int
    transitions: int
    invocations: Counter[str]
    gb_seconds: float
    seconds: float

    @property
    def cost(self) -> float:
        requests = sum(self.invocations.values())
        return (
            self.transitions * PRICE_PER_TRANSITION
            + requests * PRICE_PER_LAMBDA_REQUEST
            + self.gb_seconds * PRICE_PER_GB_SECOND
        )


def dev_template() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as outdir:
        app = build_app({BUNDLE_CONTEXT_KEY: "source", "env": "dev"}, outdir=outdir)
        template: dict[str, Any] = app.synth().get_stack_by_name("demand-dev").template
    return template


def memory_by_step(template: dict[str, Any]) -> dict[str, int]:
    """Configured MiB of each step's function (prepare, register, sync, cleanup)."""
    return {
        function["Properties"]["Handler"].split(".")[2]: function["Properties"]["MemorySize"]
        for function in resources(template, "AWS::Lambda::Function").values()
        if str(function["Properties"].get("Handler", "")).startswith("runtime.handlers.")
    }


@contextmanager
def moto_with_s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }
    try:
        with (
            mock.patch.dict(os.environ, credentials),
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        ):
            yield endpoint
    finally:
        server.stop()


# Pinned by digest, so that the second run is reused (a tag alone never is).
IMAGE = "public.ecr.aws/docker/library/bash@sha256:" + "0" * 64


def spec(size: int, execution_id: str) -> dict[str, Any]:
    inputs = {f"in_{i}": f"s3://{DATA_BUCKET}/inputs/{i}.txt" for i in range(size)}
    outputs = {f"out_{i}": f"out/{i}.txt" for i in range(size)}
    copy = " ".join(f'cp "$IN_{i}" "$OUT_{i}";' for i in range(size))
    return {
        "execution_id": execution_id,
        "execution_image": IMAGE,
        "execution_parameters": {
            "command": ["bash", "-c", copy],
            "params": inputs | outputs,
            "inputs": list(inputs),
            "outputs": list(outputs),
            "output_s3_prefix": f"s3://{DATA_BUCKET}/outputs/cost-{size}/",
        },
    }


def measure(template: dict[str, Any], size: int, efs: Path) -> tuple[Measurement, Measurement]:
    """The first execution of a request (it runs), then the same under another id (a hit)."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    harness = Harness(template=template, efs=efs, object_reads=Counter())
    memory = memory_by_step(template)
    billed: defaultdict[str, float] = defaultdict(float)  # GB-seconds per step
    invoke = harness._invoke

    def timed(function_name: str, event: Any) -> tuple[str, bool, str]:
        started = time.perf_counter()
        try:
            return invoke(function_name, event)
        finally:
            step = harness.handlers[function_name].split(".")[2]
            milliseconds = int((time.perf_counter() - started) * 1000) + 1
            billed[step] += milliseconds / 1000 * memory[step] / 1024

    with harness.patched(), mock.patch.object(harness, "_invoke", timed):
        harness.deploy()
        for i in range(size):
            harness.put_object(f"s3://{DATA_BUCKET}/inputs/{i}.txt", f"input {i}\n".encode())
        measured = []
        for execution_id in (f"cost-{size}", f"cost-{size}-again"):
            before, billed_before = harness.invocations.copy(), sum(billed.values())
            started = time.perf_counter()
            arn = harness.start(spec(size, execution_id))
            described = harness.wait(arn)
            seconds = time.perf_counter() - started
            if described["status"] != "SUCCEEDED":
                raise SystemExit(f"execution {arn} ended {described['status']}: {described}")
            measured.append(
                Measurement(
                    size,
                    len(harness.states_entered(arn)),
                    harness.invocations - before,
                    sum(billed.values()) - billed_before,
                    seconds,
                )
            )
    return measured[0], measured[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10])
    sizes = parser.parse_args().sizes
    template = dev_template()
    results, hits = [], []
    for size in sizes:
        with moto_with_s3_endpoint(), tempfile.TemporaryDirectory() as efs:
            ran, reused = measure(template, size, Path(efs))
            results.append(ran)
            hits.append(reused)

    print(
        "Prices: Step Functions $0.025/1k transitions; Lambda $0.20/1M requests, "
        "$0.0000133334/GB-s (arm64); us-east-1 list prices, free tiers left out."
    )
    print(
        f"{'in/out':>6} {'transitions':>11} {'lambda calls':>12} {'GB-s':>8} "
        f"{'cost/execution':>14} {'per 1k':>8} {'wall s':>7}"
    )
    for label, rows in (("run", results), ("reused", hits)):
        print(label)
        for m in rows:
            print(
                f"{m.size:>3}/{m.size:<2} {m.transitions:>11} {sum(m.invocations.values()):>12} "
                f"{m.gb_seconds:>8.3f} {m.cost:>14.7f} {m.cost * 1000:>8.4f} {m.seconds:>7.2f}"
            )
    first, last = results[0], results[-1]
    if first.size == 1:
        verdict = "meets" if first.transitions <= TARGET_TRANSITIONS else "MISSES"
        print(
            f"1 input / 1 output: {first.transitions} transitions ({verdict} the target "
            f"of at most {TARGET_TRANSITIONS})"
        )
    if last.size > first.size:
        growth = (last.transitions - first.transitions) / (2 * (last.size - first.size))
        print(f"growth: {growth:.2f} transitions per extra input or output (target: at most 1)")


if __name__ == "__main__":
    main()
