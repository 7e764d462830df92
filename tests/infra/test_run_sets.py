"""The run-set state machine as synthesized: the Distributed Map over the manifest, what each
item runs, the limits it takes from the environment's settings, and what its role may do.

moto runs this definition end to end (tests/e2e/test_run_sets.py) except
ToleratedFailurePercentagePath, which its interpreter reads and ignores: checked here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import RunSetSettings, parse_environment
from runtime import contract
from tests.synthesis import (
    ALL_ENVIRONMENTS,
    RUN_SETS_STATE_MACHINE,
    Synthesis,
    resources,
    state_machine,
    state_machine_definition,
)


def _definition(synthesis: Synthesis, environment: str = "dev") -> dict[str, Any]:
    return state_machine_definition(synthesis.templates[environment], RUN_SETS_STATE_MACHINE)


def test_a_distributed_map_reads_the_manifest_and_writes_its_results(
    synthesis: Synthesis,
) -> None:
    rows = _definition(synthesis)["States"][contract.STATE_ROWS]
    assert rows["Type"] == "Map"
    assert rows["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        # Rows run for hours: Express child workflows end after 5 minutes.
        "ExecutionType": "STANDARD",
    }
    reader = rows["ItemReader"]
    assert reader["Resource"] == "arn:<ref>:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSON"}
    assert reader["Parameters"] == {"Bucket": "<ref>", "Key.$": "$.manifest_key"}
    assert rows["MaxConcurrencyPath"] == "$.max_concurrency"
    assert rows["ToleratedFailurePercentagePath"] == "$.tolerated_failure_percentage"
    assert rows["ResultWriter"] == {
        "Resource": "arn:<ref>:states:::s3:putObject",
        "Parameters": {"Bucket": "<ref>", "Prefix": f"{contract.RUN_SET_PREFIX}results"},
    }
    # No payload near a limit: the items come from S3, one row per child workflow.
    assert "ItemsPath" not in rows
    assert "Items" not in rows


def test_each_row_starts_an_execution_named_after_it_and_waits_for_it(
    synthesis: Synthesis,
) -> None:
    processor = _definition(synthesis)["States"][contract.STATE_ROWS]["ItemProcessor"]
    assert processor["StartAt"] == contract.STATE_RUN_ROW
    run_row = processor["States"][contract.STATE_RUN_ROW]
    assert run_row["Resource"] == "arn:<ref>:states:::states:startExecution.sync:2"
    assert run_row["Parameters"] == {
        "StateMachineArn": "<ref>",
        "Name.$": "$.spec.execution_id",
        "Input": {
            "spec.$": "$.spec",
            "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
        },
    }
    assert run_row["End"] is True
    # Starting is retried (limits, throttling); a row's own failure never is.
    (retry,) = run_row["Retry"]
    assert "States.TaskFailed" not in retry["ErrorEquals"]
    assert "States.ALL" not in retry["ErrorEquals"]
    assert "StepFunctions.ExecutionLimitExceededException" in retry["ErrorEquals"]
    # Its result is the row's id and state, not the row's whole output.
    assert set(run_row["ResultSelector"]) == {"ExecutionArn.$", "Status.$"}


def test_the_row_executions_are_the_environments_state_machine(synthesis: Synthesis) -> None:
    template = synthesis.templates["dev"]
    executions, _ = state_machine(template)
    sets, machine = state_machine(template, RUN_SETS_STATE_MACHINE)
    assert machine["Properties"]["StateMachineName"] == "demand-dev" + (
        contract.RUN_SET_STATE_MACHINE_SUFFIX
    )
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    assert {"Ref": executions} in parts
    statements = [
        statement
        for logical_id, policy in resources(template, "AWS::IAM::Policy").items()
        if logical_id.startswith(RUN_SETS_STATE_MACHINE)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    starts = [s for s in statements if s["Action"] == "states:StartExecution"]
    # The environment's executions (the rows), and itself (the Map's child workflows).
    assert sorted(json.dumps(s["Resource"]) for s in starts) == sorted(
        [json.dumps({"Ref": executions}), json.dumps({"Ref": sets})]
    )
    assert not any(s["Action"] == "*" or s["Action"] == "states:*" for s in statements)


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_limits_are_the_environments_settings_and_refused_beyond(
    synthesis: Synthesis, environment: str
) -> None:
    definition = _definition(synthesis, environment)
    assert definition["StartAt"] == "Check the limits"
    check = definition["States"]["Check the limits"]
    (choice,) = check["Choices"]
    assert choice["Next"] == contract.STATE_ROWS
    assert check["Default"] == "Refused"
    conditions = {(c["Variable"], next(k for k in c if k != "Variable")): c for c in choice["And"]}
    defaults = RunSetSettings()
    assert (
        conditions["$.max_concurrency", "NumericLessThanEquals"]["NumericLessThanEquals"]
        == defaults.max_concurrency
    )
    assert (
        conditions["$.tolerated_failure_percentage", "NumericLessThanEquals"][
            "NumericLessThanEquals"
        ]
        == defaults.tolerated_failure_percentage
    )
    assert conditions["$.manifest_key", "StringMatches"]["StringMatches"] == (
        f"{contract.RUN_SET_PREFIX}*"
    )
    assert definition["States"]["Refused"]["Error"] == contract.ERROR_RUN_SET_REFUSED
    outputs = synthesis.templates[environment]["Outputs"]
    assert outputs[contract.OUTPUT_RUN_SET_MAX_CONCURRENCY]["Value"] == "100"
    assert outputs[contract.OUTPUT_RUN_SET_TOLERATED_FAILURE_PERCENTAGE]["Value"] == "100"
    assert contract.OUTPUT_RUN_SET_STATE_MACHINE_ARN in outputs


def test_run_set_settings_are_validated() -> None:
    base = {
        "compute": {
            "on_demand": {"instance_types": ["m6i"], "max_vcpus": 4},
            "spot": {"instance_types": ["m6i"], "max_vcpus": 4},
        }
    }
    settings = parse_environment(
        "x", base | {"run_sets": {"max_concurrency": 40, "tolerated_failure_percentage": 5}}
    )
    assert (settings.run_sets.max_concurrency, settings.run_sets.tolerated_failure_percentage) == (
        40,
        5,
    )
    for wrong in (
        {"max_concurrency": 0},
        {"max_concurrency": 10_001},
        {"tolerated_failure_percentage": 101},
        {"parallel": 3},
    ):
        with pytest.raises(ValueError, match="run_sets"):
            parse_environment("x", base | {"run_sets": wrong})
