"""What a 10,000-row run set costs on the client: expanding, validating and submitting it.

Writes a template (one input, one output, every row's own destination) and a CSV table of N
rows, then times, each on its own:

- **expansion**: reading the table and making each row's request (runtime/runsets/expansion.py:
  every row validated as a request, ids, no two rows writing to one place);
- **validation**: planning every row as a deployed environment's Prepare would (``check_rows``
  with ``build_plan`` and dev's planning settings, as ``demand submit --table`` does);
- **submission**: the manifest and index built and put in S3 and the set's execution started
  (``submit_run_set``), against moto in this process (so S3's and Step Functions' own latency
  is not in it; what is, is ours: serialising, hashing, moto's handling of the requests).

and prints the time of each, per row, and the memory: the process's peak resident size
(ru_maxrss, the interpreter and its imports included) and, with ``--memory``, tracemalloc's
peak of Python allocations across the three (tracing slows every allocation: take the times
from a run without it).

    .venv/bin/python -m benchmarks.run_sets                # 10,000 rows
    .venv/bin/python -m benchmarks.run_sets --memory       # and the allocations' peak
    .venv/bin/python -m benchmarks.run_sets --rows 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import boto3
import yaml
from moto import mock_aws

from runtime.cloud.run_sets import Limits, RunSetRow, submit_run_set
from runtime.cloud.stack import DeployedEnvironment
from runtime.deployment import DeploymentSettings
from runtime.plan.builder import build_plan
from runtime.runsets.expansion import check_rows, expand_run_set
from tests.runtime.cloud.conftest import PREPARE_VARIABLES

REGION: Final = "us-west-2"
BUCKET = "demand-dev-data"  # dev's allowed bucket in PREPARE_VARIABLES
TEMPLATE: dict[str, Any] = {
    "execution_id": "bench",
    "execution_image": "public.ecr.aws/docker/library/bash:5.2",
    "execution_parameters": {
        "command": ["bash", "-c", 'wc -w < "$WORDS" > "$COUNTS"'],
        "params": {
            "sample": "s0",
            "words": f"s3://{BUCKET}/inputs/${{sample}}.txt",
            "counts": f"counts.txt @ s3://{BUCKET}/outputs/${{sample}}/counts.txt",
            "threshold": "5",
        },
        "inputs": ["words"],
        "outputs": ["counts"],
    },
    "resource_requirements": {"vcpus": 1, "memory": 1024},
}

Result = TypeVar("Result")


def timed(label: str, work: Callable[[], Result], rows: int) -> Result:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label:<12} {seconds:8.2f} s   {seconds / rows * 1e6:8.0f} µs per row")
    return result


def environment(sfn: Any) -> DeployedEnvironment:
    role = "arn:aws:iam::123456789012:role/bench"
    machine = {"StartAt": "Rows", "States": {"Rows": {"Type": "Pass", "End": True}}}
    rows_machine = sfn.create_state_machine(
        name="demand-dev", roleArn=role, definition=json.dumps(machine)
    )
    sets_machine = sfn.create_state_machine(
        name="demand-dev-sets", roleArn=role, definition=json.dumps(machine)
    )
    return DeployedEnvironment(
        name="dev",
        stack_name="demand-dev",
        state_machine_arn=rows_machine["stateMachineArn"],
        data_bucket=BUCKET,
        file_system_id="fs-0123456789abcdef0",
        job_queue="demand-dev-default",
        job_log_group="/aws/batch/job",
        run_set_state_machine_arn=sets_machine["stateMachineArn"],
        run_set_max_concurrency=100,
        run_set_tolerated_failure_percentage=100,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--memory",
        action="store_true",
        help="Trace Python allocations (tracemalloc): their peak, at the price of slower times.",
    )
    arguments = parser.parse_args()
    rows = arguments.rows
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.pop("AWS_ENDPOINT_URL_S3", None)
    with tempfile.TemporaryDirectory() as directory, mock_aws():
        template = Path(directory, "template.yaml")
        template.write_text(yaml.safe_dump(TEMPLATE))
        table = Path(directory, "rows.csv")
        table.write_text(
            "sample,threshold\n" + "".join(f"s{n},{n % 7}\n" for n in range(1, rows + 1))
        )
        planning = DeploymentSettings.from_environment(PREPARE_VARIABLES).planning()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        sfn = boto3.client("stepfunctions", region_name=REGION)
        deployed = environment(sfn)
        print(f"{rows} rows, table {table.stat().st_size / 1024:.0f} KiB")

        if arguments.memory:
            tracemalloc.start()
        run_set = timed("expansion", lambda: expand_run_set(template, table), rows)
        timed(
            "validation",
            lambda: check_rows(
                run_set,
                lambda request: build_plan(request, planning.volumes, planning.context),
            ),
            rows,
        )
        manifest_rows = [
            RunSetRow(row.number, row.request.model_dump(mode="json")) for row in run_set.rows
        ]
        submitted = timed(
            "submission",
            lambda: submit_run_set(
                deployed, run_set.set_id, manifest_rows, Limits(100, 100), s3=s3, stepfunctions=sfn
            ),
            rows,
        )
        _, peak = tracemalloc.get_traced_memory()
        traced = tracemalloc.is_tracing()
        tracemalloc.stop()
        head = s3.head_object(Bucket=BUCKET, Key=submitted.manifest.split("/", 3)[3])
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"manifest     {head['ContentLength'] / 2**20:8.1f} MiB ({submitted.rows} rows)")
    print(f"memory       {maxrss / 1024:8.1f} MiB peak resident size (ru_maxrss)")
    if traced:
        print(f"             {peak / 2**20:8.1f} MiB peak of Python allocations (tracemalloc)")


if __name__ == "__main__":
    main()
