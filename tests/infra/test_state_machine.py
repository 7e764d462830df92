"""The state machine's states, their wiring, and their Retry and Catch."""

from __future__ import annotations

from typing import Any

import pytest

from infra.constructs.orchestration import (
    BATCH_API_ERRORS,
    LAMBDA_SERVICE_ERRORS,
    TRANSIENT_STEP_ERRORS,
)
from runtime import contract
from tests.synthesis import Synthesis, state_machine, state_machine_definition

LAMBDA_STATES = ["Prepare", "Register", "Sync input", "Sync output", "Cleanup"]


def _all_states(states: dict[str, Any]) -> dict[str, Any]:
    """Every state, including those inside Parallel branches and Map item processors."""
    found = dict(states)
    for state in states.values():
        for branch in state.get("Branches", []):
            found |= _all_states(branch["States"])
        if "ItemProcessor" in state:
            found |= _all_states(state["ItemProcessor"]["States"])
    return found


@pytest.fixture(scope="module")
def definition(synthesis: Synthesis) -> dict[str, Any]:
    return state_machine_definition(synthesis.templates["dev"])


@pytest.fixture(scope="module")
def states(definition: dict[str, Any]) -> dict[str, Any]:
    return _all_states(definition["States"])


def _retried_errors(state: dict[str, Any]) -> list[str]:
    return [error for retry in state.get("Retry", []) for error in retry["ErrorEquals"]]


def test_flow_follows_the_design(definition: dict[str, Any]) -> None:
    top = definition["States"]
    assert definition["StartAt"] == "Prepare"
    assert top["Prepare"]["Next"] == "Reused?"
    assert top["Reused?"]["Default"] == "Register and stage in"
    assert top["Register and stage in"]["Next"] == "Run job"
    assert top["Run job"]["Next"] == "Stage out"
    assert top["Stage out"]["Next"] == "Stage out pending?"
    assert top["Stage out pending?"]["Default"] == "Cleanup"
    assert top["Cleanup"]["End"] is True


def test_a_reused_result_ends_the_execution_after_prepare(definition: dict[str, Any]) -> None:
    top = definition["States"]
    # Prepare delivered a known result (docs/reuse.md): Prepare, the Choice, the Succeed.
    assert top["Reused?"]["Choices"] == [
        {"Variable": "$.plan.reused_from", "IsString": True, "Next": "Reused"}
    ]
    assert top["Reused"] == {"Type": "Succeed"}
    # ... otherwise Cleanup records the result from what Prepare's check saw.
    assert top["Cleanup"]["Parameters"]["reuse.$"] == "$.plan.reuse"


def test_prepare_puts_the_plan_beside_the_input(states: dict[str, Any]) -> None:
    prepare = states["Prepare"]
    assert prepare["ResultPath"] == "$.plan"
    # The request, and the execution it serves as Step Functions knows it: the request's id
    # is checked against the execution's own name, never taken on trust.
    assert prepare["Parameters"] == {
        "spec.$": "$.spec",
        "execution.$": "$$.Execution.Id",
        "execution_name.$": "$$.Execution.Name",
    }


def test_register_runs_beside_the_stage_in_loop(states: dict[str, Any]) -> None:
    parallel = states["Register and stage in"]
    assert parallel["Type"] == "Parallel"
    assert [branch["StartAt"] for branch in parallel["Branches"]] == ["Register", "Stage in"]
    assert parallel["ResultSelector"] == {"job_definition_arn.$": "$[0]"}
    assert parallel["ResultPath"] == "$.registered"
    assert states["Register"]["InputPath"] == "$.plan.job"
    assert states["Register"]["OutputPath"] == "$.job_definition_arn"
    assert states["Register"]["End"] is True


@pytest.mark.parametrize(
    ("map_name", "requests", "sync_name"),
    [
        ("Stage in", "$.plan.stage_in", "Sync input"),
        ("Stage out", "$.plan.stage_out", "Sync output"),
    ],
)
def test_sync_loops_repeat_until_every_sync_is_done(
    states: dict[str, Any], map_name: str, requests: str, sync_name: str
) -> None:
    map_state = states[map_name]
    assert map_state["Type"] == "Map"
    assert map_state["ItemsPath"] == f"{requests}.items"
    assert map_state["MaxConcurrency"] == 10  # dev's map_concurrency
    assert map_state["ResultSelector"] == {
        "items.$": "$",
        "pending.$": "States.ArrayContains($[*].done, false)",
    }
    assert map_state["ResultPath"] == requests
    processor = map_state["ItemProcessor"]
    assert processor["StartAt"] == sync_name
    assert list(processor["States"]) == [sync_name]
    assert processor["States"][sync_name]["End"] is True

    choice = states[map_state["Next"]]
    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [
        {"Variable": f"{requests}.pending", "BooleanEquals": True, "Next": map_name}
    ]


def test_run_job_submits_the_plans_job_and_waits(states: dict[str, Any]) -> None:
    run_job = states["Run job"]
    assert run_job["Resource"].endswith(":states:::batch:submitJob.sync")
    assert run_job["Parameters"] == {
        "JobDefinition.$": "$.registered.job_definition_arn",
        "JobName.$": "$.plan.job.submit.JobName",
        "JobQueue.$": "$.plan.job.submit.JobQueue",
        "ContainerOverrides.$": "$.plan.job.submit.ContainerOverrides",
        "Tags.$": "$.plan.job.submit.Tags",
        "PropagateTags": True,
    }
    assert run_job["ResultSelector"] == {"JobId.$": "$.JobId", "Status.$": "$.Status"}
    assert run_job["ResultPath"] == "$.job"
    assert _retried_errors(run_job) == BATCH_API_ERRORS


def test_cleanup_payloads(states: dict[str, Any]) -> None:
    assert states["Cleanup"]["Parameters"] == {
        "cleanup.$": "$.plan.cleanup",
        "status": "SUCCEEDED",
        "reuse.$": "$.plan.reuse",  # what Prepare's reuse check saw: the record's key
    }
    assert states["Cleanup"]["ResultPath"] is None  # the execution's output stays the state


def test_no_state_catches_a_failure(definition: dict[str, Any], states: dict[str, Any]) -> None:
    """A step that fails ends the execution itself, with its own error: Step Functions redrives
    the states that did not exit, and a caught failure exits its state (a redrive would run
    only the catcher again). The rule on unsuccessful ends cleans up (test_stopped_cleanup)."""
    assert [name for name, state in states.items() if "Catch" in state] == []
    assert [name for name, state in states.items() if state["Type"] == "Fail"] == []
    assert {contract.STATE_CLEANUP_AFTER_FAILURE, contract.STATE_FAIL} & set(states) == set()


@pytest.mark.parametrize("name", LAMBDA_STATES)
def test_lambda_steps_retry_service_and_transient_errors_with_jitter(
    states: dict[str, Any], name: str
) -> None:
    state = states[name]
    assert _retried_errors(state) == LAMBDA_SERVICE_ERRORS + TRANSIENT_STEP_ERRORS
    for retry in state["Retry"]:
        assert retry["JitterStrategy"] == "FULL"
        assert retry["BackoffRate"] == 2
        assert retry["MaxAttempts"] <= 6


def test_errors_meaning_give_up_are_never_retried(states: dict[str, Any]) -> None:
    for state in states.values():
        retried = _retried_errors(state)
        assert not {"SpecError", "SyncFailed", "PlanError", "States.ALL"} & set(retried)


def _transitions(states: dict[str, Any], start: str, items: dict[str, int]) -> int:
    """State transitions of a successful execution with ``items[map]`` requests per Map."""
    count, name = 0, start
    while True:
        state = states[name]
        count += 1
        if state["Type"] == "Parallel":
            count += sum(
                _transitions(branch["States"], branch["StartAt"], items)
                for branch in state["Branches"]
            )
        elif state["Type"] == "Map":
            processor = state["ItemProcessor"]
            count += items[name] * _transitions(processor["States"], processor["StartAt"], items)
        elif state["Type"] == "Choice":  # every sync finished in one pass
            name = state["Default"]
            continue
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            return count
        name = state["Next"]


@pytest.mark.parametrize(("inputs", "outputs"), [(1, 1), (3, 1), (1, 4), (0, 0)])
def test_transitions_stay_within_the_budget(
    definition: dict[str, Any], inputs: int, outputs: int
) -> None:
    # At most 13 for one input and one output — 12, and the Reused? Choice after Prepare
    # (docs/reuse.md) — one more per extra input or output.
    budget = 13 + max(inputs - 1, 0) + max(outputs - 1, 0)
    used = _transitions(definition["States"], "Prepare", {"Stage in": inputs, "Stage out": outputs})
    assert used <= budget


def test_a_hit_costs_three_transitions(definition: dict[str, Any]) -> None:
    states = definition["States"]
    entered = ["Prepare", states["Prepare"]["Next"]]
    (choice,) = states[entered[-1]]["Choices"]
    entered.append(choice["Next"])
    assert entered == ["Prepare", "Reused?", "Reused"]
    assert states["Reused"]["Type"] == "Succeed"


def test_logging_and_tracing(synthesis: Synthesis) -> None:
    _, machine = state_machine(synthesis.templates["dev"])
    properties = machine["Properties"]
    assert properties["StateMachineName"] == "demand-dev"
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    # Each request's parameters stay out of the logs unless the environment asks for them.
    assert properties["LoggingConfiguration"]["IncludeExecutionData"] is False
    _, imported = state_machine(synthesis.templates["imported"])
    assert imported["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is True
