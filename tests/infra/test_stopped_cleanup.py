"""The cleanup of unsuccessful executions in each environment's template: the rule on the state
machine's failures, aborts and timeouts, its two targets (the function at once, the delay
queue), the queue's delay and dead letters, and what the function sees and may do."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import contract
from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources, state_machine

HANDLER = "runtime.handlers.stopped.handler"


def _one(template: dict[str, Any], resource_type: str, prefix: str) -> tuple[str, dict[str, Any]]:
    (found,) = (
        (logical_id, resource["Properties"])
        for logical_id, resource in resources(template, resource_type).items()
        if logical_id.startswith(prefix)
    )
    return found


def _function(template: dict[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, properties),) = (
        (logical_id, function["Properties"])
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == handler
    )
    return logical_id, properties


def _queues(template: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], tuple[str, Any]]:
    queues = {
        logical_id: queue["Properties"]
        for logical_id, queue in resources(template, "AWS::SQS::Queue").items()
        if logical_id.startswith("StoppedCleanup")
    }
    ((delayed_id, delayed),) = ((k, v) for k, v in queues.items() if "RedrivePolicy" in v)
    ((dead_id, dead),) = ((k, v) for k, v in queues.items() if k != delayed_id)
    return (delayed_id, delayed), (dead_id, dead)


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_rule_sends_this_state_machines_unsuccessful_ends_to_the_function_and_the_queue(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    machine_id, _ = state_machine(template)
    _, rule = _one(template, "AWS::Events::Rule", "StoppedCleanupExecutionStopped")
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "stateMachineArn": [{"Ref": machine_id}],
            "status": ["FAILED", "ABORTED", "TIMED_OUT"],
        },
    }
    function_id, _ = _function(template, HANDLER)
    (queue_id, _), _ = _queues(template)
    assert sorted(target["Arn"]["Fn::GetAtt"][0] for target in rule["Targets"]) == sorted(
        [function_id, queue_id]
    )
    assert all(target["RetryPolicy"]["MaximumRetryAttempts"] > 0 for target in rule["Targets"])
    # EventBridge may send to the queue for this rule only, over TLS only.
    _, queue_policy = _one(template, "AWS::SQS::QueuePolicy", "StoppedCleanupQueue")
    statements = queue_policy["PolicyDocument"]["Statement"]
    (send,) = (s for s in statements if s.get("Principal") == {"Service": "events.amazonaws.com"})
    assert send["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0].startswith(
        "StoppedCleanupExecutionStopped"
    )
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_queue_holds_each_stop_until_no_step_can_still_run(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    (queue_id, queue), (dead_id, dead) = _queues(template)
    assert queue["DelaySeconds"] == contract.STOPPED_CLEANUP_DELAY_SECONDS
    longest = max(
        function["Properties"].get("Timeout", 3)
        for function in resources(template, "AWS::Lambda::Function").values()
        if str(function["Properties"].get("Handler", "")).startswith("runtime.handlers.")
    )
    assert longest <= contract.STOPPED_CLEANUP_DELAY_SECONDS
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    function_id, function = _function(template, HANDLER)
    assert queue["VisibilityTimeout"] >= function["Timeout"]
    assert queue["SqsManagedSseEnabled"] is True
    assert dead["SqsManagedSseEnabled"] is True
    (mapping,) = (
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    )
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["BatchSize"] == 1


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_function_sees_the_file_system_as_the_cleanup_step_does(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    _, function = _function(template, HANDLER)
    _, cleanup = _function(template, "runtime.handlers.cleanup.handler")
    for key in ("FileSystemConfigs", "VpcConfig", "Environment"):
        assert function[key] == cleanup[key]


def _statements(template: dict[str, Any], role_prefix: str) -> dict[str, dict[str, Any]]:
    return {
        statement["Sid"]: statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if any(role["Ref"].startswith(role_prefix) for role in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Sid" in statement
    }


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_function_may_do_what_cleanup_does_and_stop_only_this_environments_jobs(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    stopped = _statements(template, "StoppedCleanupFunction")
    cleanup = _statements(template, "StepsCleanup")
    for sid in (
        "FindExecutionAccessPoints",
        "DeleteExecutionAccessPoints",
        "FindExecutionJobDefinitions",
        "DeregisterExecutionJobDefinitions",
    ):
        assert stopped[sid] == cleanup[sid]
    terminate = stopped["StopExecutionJobs"]
    assert terminate["Action"] == "batch:TerminateJob"
    assert terminate["Condition"] == {
        "StringEquals": {"aws:ResourceTag/demand:environment": environment}
    }
    describe = stopped["ConfirmStoppedExecutions"]
    assert describe["Action"] == "states:DescribeExecution"
    machine_id, _ = state_machine(template)
    _, parts = describe["Resource"]["Fn::Join"]
    assert parts[-2:] == [{"Fn::GetAtt": [machine_id, "Name"]}, ":*"]
    assert stopped["FindExecutionJobs"]["Action"] == "batch:ListJobs"
