"""A request too large to be an execution's input: stored by `demand submit`'s own code, run by
the synthesized state machine, and never in the state beyond a reference and bounded items."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.harness import DATA_BUCKET, Harness

FILES = 4_000
# Step Functions refuses an execution's input, and any state's input or output, above this.
PAYLOAD_LIMIT = 256 * 1024
# Each input to the output of the same number: the names are the job's variables (IN_0, OUT_0).
COPY_EACH = f'for i in $(seq 0 {FILES - 1}); do eval "s=\\$IN_$i d=\\$OUT_$i"; cp "$s" "$d"; done'


def copy_request(execution_id: str) -> dict[str, Any]:
    inputs = {f"in_{i}": f"s3://{DATA_BUCKET}/inputs/big/{i:05}.txt" for i in range(FILES)}
    outputs = {f"out_{i}": f"out-{i:05}.txt" for i in range(FILES)}
    return {
        "execution_id": execution_id,
        "execution_image": "public.ecr.aws/docker/library/bash:5.2",
        "execution_parameters": {
            "command": ["bash", "-c", COPY_EACH],
            "params": inputs | outputs,
            "inputs": list(inputs),
            "outputs": list(outputs),
            "output_s3_prefix": f"s3://{DATA_BUCKET}/outputs/{execution_id}/",
        },
    }


def _state_data(event: dict[str, Any]) -> str | None:
    for details in ("stateEnteredEventDetails", "stateExitedEventDetails"):
        if details in event:
            return str(event[details].get("input") or event[details].get("output") or "")
    return None


def test_four_thousand_inputs_and_outputs_run_from_a_stored_request(harness: Harness) -> None:
    for i in range(FILES):
        harness.put_object(f"s3://{DATA_BUCKET}/inputs/big/{i:05}.txt", f"{i}\n".encode())
    request = copy_request("big-1")
    assert len(json.dumps({"spec": request}).encode()) > PAYLOAD_LIMIT  # not startable inline

    arn = harness.submit(request)
    started_with = harness.stepfunctions.describe_execution(executionArn=arn)["input"]
    assert len(started_with.encode()) < 1024
    assert json.loads(harness.get_object(f"s3://{DATA_BUCKET}/requests/big-1.json")) == request

    described = harness.wait(arn, timeout=1800)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    outputs = harness.keys(DATA_BUCKET, "outputs/big-1/")
    assert len(outputs) == FILES
    for i in (0, 1234, FILES - 1):
        assert harness.get_object(f"s3://{DATA_BUCKET}/outputs/big-1/out-{i:05}.txt") == (
            f"{i}\n".encode()
        )
    assert list((harness.efs / "scratch").iterdir()) == []

    # Nothing in the state grows with the request: the spec stays the reference, the plan's
    # stages are bounded items, in every state of the run.
    history = harness.history(arn)
    sizes = [len(data.encode()) for e in history if (data := _state_data(e)) is not None]
    assert max(sizes) < 64 * 1024, max(sizes)
    (run_job,) = (
        json.loads(e["stateEnteredEventDetails"]["input"])
        for e in history
        if e.get("stateEnteredEventDetails", {}).get("name") == "Run job"
    )
    assert run_job["spec"] == json.loads(started_with)["spec"]
    assert run_job["spec"]["$request"] == f"s3://{DATA_BUCKET}/requests/big-1.json"
