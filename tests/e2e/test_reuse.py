"""Results reused through the synthesized state machine (moto runs it; the steps run here)."""

from __future__ import annotations

from typing import Any

import boto3

from tests.e2e.harness import REGION, Harness

INPUT = "s3://e2e-data/inputs/reuse/words.txt"
IMAGE = "public.ecr.aws/docker/library/bash@sha256:" + "e" * 64
COUNT_WORDS = ["bash", "-c", 'wc -w < "$WORDS" > "$COUNTS"']


def spec(execution_id: str, prefix: str = "s3://e2e-data/outputs/reuse/") -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "execution_image": IMAGE,
        "execution_parameters": {
            "command": COUNT_WORDS,
            "params": {"words": INPUT, "counts": "counts.txt"},
            "inputs": ["words"],
            "outputs": ["counts"],
            "output_s3_prefix": prefix,
        },
    }


def test_a_second_identical_execution_is_reused_in_three_transitions(harness: Harness) -> None:
    harness.put_object(INPUT, b"the quick brown fox\n")
    first = harness.start(spec("reuse-1"))
    assert harness.wait(first)["status"] == "SUCCEEDED"
    jobs, reads = harness.job_submissions(), sum(harness.object_reads.values())
    prepared = harness.invocations.copy()

    second = harness.start(spec("reuse-2", prefix="s3://e2e-data/outputs/elsewhere/"))

    assert harness.wait(second)["status"] == "SUCCEEDED"
    assert harness.states_entered(second) == ["Prepare", "Reused?", "Reused"]
    assert harness.job_submissions() == jobs  # no job
    assert sum(harness.object_reads.values()) == reads  # no input staged, no body read
    assert sum((harness.invocations - prepared).values()) == 1  # Prepare alone
    assert harness.get_object("s3://e2e-data/outputs/elsewhere/counts.txt") == b"4\n"
    (item,) = boto3.client("dynamodb", region_name=REGION).scan(TableName=_table(harness))["Items"]
    assert item["execution_id"]["S"] == "reuse-1"


def test_a_changed_input_runs_again(harness: Harness) -> None:
    harness.put_object(INPUT, b"the quick brown fox\n")
    assert harness.wait(harness.start(spec("changed-1")))["status"] == "SUCCEEDED"
    harness.put_object(INPUT, b"jumps\n")

    second = harness.start(spec("changed-2"))

    assert harness.wait(second)["status"] == "SUCCEEDED"
    assert "Run job" in harness.states_entered(second)
    assert harness.get_object("s3://e2e-data/outputs/reuse/counts.txt") == b"1\n"


def _table(harness: Harness) -> str:
    (name,) = [
        logical_id
        for logical_id, resource in harness.template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::GlobalTable"
    ]
    return str(name)
