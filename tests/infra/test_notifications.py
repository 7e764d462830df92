"""Notifications in each environment's template: the topic, the rule on the state machine's
ends, the function between them (its variables, its rights), and the stack output."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import EnvironmentSettingsError, parse_environment
from runtime import contract
from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources, state_machine

HANDLER = "runtime.handlers.notify.handler"


def _one(template: dict[str, Any], resource_type: str, prefix: str) -> tuple[str, dict[str, Any]]:
    (found,) = (
        (logical_id, resource)
        for logical_id, resource in resources(template, resource_type).items()
        if logical_id.startswith(prefix)
    )
    return found


def _state_machine_id(template: dict[str, Any]) -> str:
    logical_id, _ = state_machine(template)
    return logical_id


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_topic_is_encrypted_refuses_plain_http_and_is_an_output(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    topic_id, topic = _one(template, "AWS::SNS::Topic", "Notifications")
    # An ARN, or a Fn::Join that ends with the alias: SNS's own key either way.
    key = json.dumps(topic["Properties"]["KmsMasterKeyId"])
    assert key.rstrip("]}").endswith(':alias/aws/sns"')
    Template.from_json(template).has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
            "Topics": [{"Ref": topic_id}],
        },
    )
    assert template["Outputs"][contract.OUTPUT_NOTIFICATION_TOPIC_ARN]["Value"] == {"Ref": topic_id}


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_rule_sends_this_state_machines_ends_to_the_function(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    _, rule = _one(template, "AWS::Events::Rule", "NotificationsExecutionEnded")
    function_id, _ = _one(template, "AWS::Lambda::Function", "NotificationsFunction")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "stateMachineArn": [{"Ref": _state_machine_id(template)}],
            "status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"],
        },
    }
    ((target),) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    _, permission = _one(template, "AWS::Lambda::Permission", "NotificationsExecutionEnded")
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_function_publishes_to_the_topic_and_reads_only_its_executions(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    topic_id, _ = _one(template, "AWS::SNS::Topic", "Notifications")
    _, function = _one(template, "AWS::Lambda::Function", "NotificationsFunction")
    properties = function["Properties"]
    assert properties["Handler"] == HANDLER
    variables = properties["Environment"]["Variables"]
    assert variables[contract.ENV_NOTIFICATION_TOPIC_ARN] == {"Ref": topic_id}
    assert variables[contract.ENV_ENVIRONMENT] == environment
    assert "VpcConfig" not in properties  # it needs SNS and Step Functions only, no file system
    _, policy = _one(template, "AWS::IAM::Policy", "NotificationsFunctionServiceRole")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(
        action
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    )
    assert actions == [
        "kms:Decrypt",
        "kms:GenerateDataKey*",
        "sns:Publish",
        "states:DescribeExecution",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ]
    (publish,) = (s for s in statements if s["Action"] == "sns:Publish")
    assert publish["Resource"] == {"Ref": topic_id}
    (describe,) = (s for s in statements if s["Action"] == "states:DescribeExecution")
    _, parts = describe["Resource"]["Fn::Join"]
    assert parts[-3].endswith(":execution:")
    assert parts[-2:] == [{"Fn::GetAtt": [_state_machine_id(template), "Name"]}, ":*"]


MINIMAL: dict[str, Any] = {
    "compute": {
        "on_demand": {"instance_types": ["m6i"], "max_vcpus": 8},
        "spot": {"instance_types": ["m6i"], "max_vcpus": 8},
    }
}


def test_notifications_are_on_unless_turned_off() -> None:
    assert parse_environment("dev", MINIMAL).notifications.enabled
    off = parse_environment("dev", {**MINIMAL, "notifications": {"enabled": False}})
    assert not off.notifications.enabled
    with pytest.raises(EnvironmentSettingsError, match=r"notifications\.topic: "):
        parse_environment("dev", {**MINIMAL, "notifications": {"topic": "x"}})
