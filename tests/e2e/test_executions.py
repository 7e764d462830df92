"""Whole executions of the synthesized state machine (see harness.py for what stands in)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from runtime.errors import TransientAwsError
from runtime.plan.builder import shared_cache_key
from tests.e2e.harness import Harness

INPUT = "s3://e2e-data/inputs/data/words.txt"


def spec(execution_id: str, command: list[str], **params: Any) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "execution_image": "public.ecr.aws/docker/library/bash:5.2",
        "execution_parameters": {
            "command": command,
            "params": {"words": INPUT, "counts": "counts.txt"} | params,
            "inputs": ["words"],
            "outputs": ["counts"],
            "output_s3_prefix": f"s3://e2e-data/outputs/{execution_id}/",
        },
    }


COUNT_WORDS = ["bash", "-c", 'wc -w < "$WORDS" > "$COUNTS"']


def test_one_input_one_output_succeeds(harness: Harness) -> None:
    harness.put_object(INPUT, b"the quick brown fox\n")
    arn = harness.start(spec("ok-1", COUNT_WORDS))
    assert harness.wait(arn)["status"] == "SUCCEEDED"
    assert harness.get_object("s3://e2e-data/outputs/ok-1/counts.txt") == b"4\n"
    # The working dir is gone; the input stays in the shared cache for the next execution.
    assert list((harness.efs / "scratch").iterdir()) == []
    cached = harness.efs / "shared" / shared_cache_key(INPUT) / "words.txt"
    assert cached.read_bytes() == b"the quick brown fox\n"
    entered = harness.states_entered(arn)
    assert entered[:3] == ["Prepare", "Reused?", "Register and stage in"]
    # The two branches run at once: their states interleave in any order.
    branches = entered[3:8]
    assert sorted(branches) == sorted(
        ["Register", "Stage in", "Sync input", "Stage in pending?", "Staged in"]
    )
    stage_in = [state for state in branches if state != "Register"]
    assert stage_in == ["Stage in", "Sync input", "Stage in pending?", "Staged in"]
    assert entered[8:] == ["Run job", "Stage out", "Sync output", "Stage out pending?", "Cleanup"]


def test_a_large_prefix_loops_on_the_continuation_until_done(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At most this many transfers are in flight when a deadline cuts a sync off.
    in_flight = 8
    monkeypatch.setenv("DEMAND_SYNC_MAX_IN_FLIGHT", str(in_flight))
    for i in range(300):
        harness.put_object(f"s3://e2e-data/inputs/many/{i:04}.txt", b"word " * 10)
    # 5 s of a Lambda's remaining time are kept in reserve: each sync has ~0.3 s of work.
    harness.lambda_budget = 5.3
    command = ["bash", "-c", 'cat "$WORDS"/*.txt | wc -w > "$COUNTS"']
    arn = harness.start(spec("loop-1", command, words="s3://e2e-data/inputs/many/"))
    assert harness.wait(arn)["status"] == "SUCCEEDED"
    assert harness.get_object("s3://e2e-data/outputs/loop-1/counts.txt") == b"3000\n"
    entered = harness.states_entered(arn)
    assert entered.count("Stage in") >= 2
    assert entered.count("Sync input") == entered.count("Stage in")
    # Resumed each time, never restarted: only transfers cut off by a deadline were redone,
    # at most those in flight at each cut (a restart would read again what was done).
    reads = [n for uri, n in harness.object_reads.items() if "/many/" in uri]
    assert len(reads) == 300
    cuts = entered.count("Sync input") - 1
    assert sum(reads) - 300 <= cuts * in_flight


def test_a_failing_job_fails_with_its_error_and_is_cleaned_up_after(harness: Harness) -> None:
    harness.put_object(INPUT, b"words\n")
    command = ["bash", "-c", 'echo partial > "$COUNTS"; exit 3']
    arn = harness.start(spec("fail-1", command))
    described = harness.wait(arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.TaskFailed"
    cause = json.loads(described["cause"])
    assert cause["Status"] == "FAILED"
    assert cause["StatusReason"] == "Essential container in task exited"
    assert [attempt["Container"]["ExitCode"] for attempt in cause["Attempts"]] == [3]
    entered = harness.states_entered(arn)
    assert entered[-1] == "Run job"  # the step that failed ends the execution: redrivable
    assert "Stage out" not in entered
    assert harness.keys("e2e-data", "outputs/") == []
    # Kept for the redrive window; the rule on unsuccessful ends cleans up after it.
    assert (harness.efs / "scratch/fail-1/counts.txt").read_text() == "partial\n"
    ((later,),) = harness.deliver_stop(arn, queued=True).values()
    assert later["ignored"] is None
    for directory in ("scratch", "tmp", "control"):
        assert list((harness.efs / directory).iterdir()) == [], directory


def test_a_bad_spec_fails_in_prepare_and_starts_nothing(harness: Harness) -> None:
    arn = harness.start(spec("bad-1", ["run", "${missing}"]))
    described = harness.wait(arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "SpecError"
    assert "${missing} names no parameter" in described["cause"]
    assert harness.states_entered(arn) == ["Prepare"]
    assert harness.batch.describe_job_definitions()["jobDefinitions"] == []
    assert harness.job_submissions() == 0
    assert not (harness.efs / "scratch").exists()


def test_a_transient_error_is_retried(harness: Harness) -> None:
    harness.put_object(INPUT, b"one two\n")
    harness.fail_next("sync", TransientAwsError("S3: SlowDown: please reduce your request rate"))
    arn = harness.start(spec("retry-1", COUNT_WORDS))
    assert harness.wait(arn)["status"] == "SUCCEEDED"
    assert harness.invocations["sync"] == 3  # input twice (the retry), output once
    assert harness.get_object("s3://e2e-data/outputs/retry-1/counts.txt") == b"2\n"
    failed = [e for e in harness.history(arn) if e["type"] == "LambdaFunctionFailed"]
    assert [e["lambdaFunctionFailedEventDetails"]["error"] for e in failed] == ["TransientAwsError"]


def test_two_executions_sharing_an_input_download_it_once(harness: Harness) -> None:
    harness.put_object(INPUT, b"shared by two\n")
    arns: list[str] = []
    starts = [
        threading.Thread(
            target=lambda i=i: arns.append(harness.start(spec(f"share-{i}", COUNT_WORDS)))
        )
        for i in range(2)
    ]
    for thread in starts:
        thread.start()
    for thread in starts:
        thread.join()
    assert [harness.wait(arn)["status"] for arn in arns] == ["SUCCEEDED", "SUCCEEDED"]
    assert harness.object_reads[INPUT] == 1
    for i in range(2):
        assert harness.get_object(f"s3://e2e-data/outputs/share-{i}/counts.txt") == b"3\n"
