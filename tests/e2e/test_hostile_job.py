"""A job that attacks everything it can reach, run by the synthesized state machine.

The job sees what its container would see — its job definition's volumes, nothing else (the
harness runs it in a bubblewrap sandbox built from the registered definition) — and tries to
change what later steps do and what other executions own. None of it may work: stage-out and
cleanup read only what no job can write, and the other execution's files, the shared input
cache, the stored plan and the data outside its own outputs stay as they were.
"""

from __future__ import annotations

import pytest

from runtime.local.sandbox import unavailable_reason
from tests.e2e.harness import DATA_BUCKET, Harness

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None,
    reason=f"the job's container view needs bubblewrap: {unavailable_reason()}",
)

INPUT = f"s3://{DATA_BUCKET}/inputs/words.txt"
OUTPUTS = 200  # enough requests that stage-out reads them from the stored plan

# Everything a hostile job might try from inside its container, each attempt recorded.
ATTACK = r"""
set -u
try() { if ( eval "$1" ) 2>/dev/null; then echo "WORKED: $1"; else echo "refused: $1"; fi; }
# What is there to see? (One line: the executions' dirs the job can list.)
echo "seen: $(ls /opt/efs/scratch | tr '\n' ' ')"
# The other execution's working dir, the control data, the whole file system.
try 'echo forged > /opt/efs/scratch/victim-1/result.txt'
try 'ls /opt/efs/scratch/victim-1'
try 'cat /opt/efs/control/$EXECUTION_ID/plan.json'
try 'echo "{}" > /opt/efs/control/$EXECUTION_ID/plan.json'
try 'echo "{}" > "$WORKING_DIR/../../control/$EXECUTION_ID/plan.json"'
try 'ls /mnt/efs'
# The shared input cache: rewrite the input in place, or plant a file beside it.
try 'for f in /opt/efs/shared/*/*; do echo poisoned > "$f" || exit 1; done'
try 'for d in /opt/efs/shared/*; do echo x > "$d/planted" || exit 1; done'
# Where the plan used to be kept: a forged one that mirrors nothing over another prefix.
mkdir -p "$WORKING_DIR/.demand" "$WORKING_DIR/empty"
mirror='"source": "efs://fs-e2e:/scratch/'"$EXECUTION_ID"'/empty/", "delete": true'
printf '{"execution_id": "%s", "stage_out": [{%s, "destination": "s3://another-teams-data/"}]}' \
  "$EXECUTION_ID" "$mirror" > "$WORKING_DIR/.demand/plan.json"
# Then the job's real work.
for i in $(seq 0 199); do echo "result $i" > "$WORKING_DIR/out/$i.txt"; done
"""


def spec(execution_id: str, command: list[str], outputs: int) -> dict[str, object]:
    params: dict[str, object] = {"words": INPUT}
    params |= {f"out_{i}": f"out/{i}.txt" for i in range(outputs)}
    return {
        "execution_id": execution_id,
        "execution_image": "public.ecr.aws/docker/library/bash:5.2",
        "execution_parameters": {
            "command": command,
            "params": params,
            "inputs": ["words"],
            "outputs": [f"out_{i}" for i in range(outputs)],
            "output_s3_prefix": f"s3://{DATA_BUCKET}/outputs/{execution_id}/",
        },
        "execution_platform": {"aws_batch": {"job_queue_name": "demand-dev-default"}},
    }


def test_a_hostile_job_changes_nothing_but_its_own_outputs(harness: Harness) -> None:
    harness.put_object(INPUT, b"one two three\n")
    harness.put_object("s3://another-teams-data/precious.txt", b"keep me")
    # Another execution, mid-run: its working dir holds a result not yet staged out.
    victim = harness.efs / "scratch/victim-1"
    victim.mkdir(parents=True)
    (victim / "result.txt").write_text("the victim's result")

    arn = harness.start(spec("hostile-1", ["bash", "-c", ATTACK], OUTPUTS))
    described = harness.wait(arn)
    (job,) = harness.job_outputs
    assert described["status"] == "SUCCEEDED", (described.get("cause"), job.stderr[-2000:])
    said = job.stdout.decode().splitlines()
    assert [line for line in said if line.startswith("WORKED")] == []
    assert len([line for line in said if line.startswith("refused")]) == 8
    # Of all executions' dirs, the job saw its own only.
    assert "seen: hostile-1 " in said

    # Its own outputs went where the plan said; nothing else was written or deleted.
    for i in (0, 99, 199):
        uploaded = harness.get_object(f"s3://{DATA_BUCKET}/outputs/hostile-1/out/{i}.txt")
        assert uploaded == f"result {i}\n".encode()
    assert harness.keys("another-teams-data") == ["precious.txt"]
    assert len(harness.keys(DATA_BUCKET, "outputs/hostile-1/")) == OUTPUTS
    # The other execution, the input cache and the control data are untouched.
    assert (victim / "result.txt").read_text() == "the victim's result"
    assert sorted(p.name for p in victim.iterdir()) == ["result.txt"]
    [cached] = list((harness.efs / "shared").glob("*/words.txt"))
    assert cached.read_bytes() == b"one two three\n"
    assert not list((harness.efs / "shared").glob("*/planted"))
    # Cleanup removed the execution's dirs and control data, and nothing of anyone else's.
    assert not (harness.efs / "scratch/hostile-1").exists()
    assert not (harness.efs / "control/hostile-1").exists()
    assert victim.exists()


def test_an_output_that_is_a_link_fails_the_execution(harness: Harness) -> None:
    harness.put_object(INPUT, b"words\n")
    command = ["bash", "-c", 'ln -s /etc/hostname "$OUT_0"']
    arn = harness.start(spec("linked-1", command, 1))
    described = harness.wait(arn)
    assert described["status"] == "FAILED"
    assert "a symbolic link" in described["cause"]
    assert harness.keys(DATA_BUCKET, "outputs/linked-1/") == []
