"""The notification function on Step Functions' own status-change events, against moto's SNS:
what is published, with which attributes, and what a subscription's filter policy lets through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sns.models import sns_backends

from runtime.errors import ConfigError, SpecError
from runtime.handlers import notify
from runtime.spec import parse_spec
from tests.lambda_context import FakeLambdaContext, load_event
from tests.runtime.specs import spec_dict

REGION = "us-west-2"
ACCOUNT = "123456789012"


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("DEMAND_ENVIRONMENT", "test")
    with mock_aws():
        arn = boto3.client("sns").create_topic(Name="demand-test-notifications")["TopicArn"]
        monkeypatch.setenv("DEMAND_NOTIFICATION_TOPIC_ARN", arn)
        yield arn


def sent(topic_arn: str) -> list[tuple[str | None, dict[str, Any], dict[str, Any]]]:
    """(subject, body, attributes) of each message moto's SNS recorded on the topic."""
    recorded = sns_backends[ACCOUNT][REGION].topics[topic_arn].sent_notifications
    return [
        (subject, json.loads(message), attributes or {})
        for _, message, subject, attributes, _ in recorded
    ]


def attribute_values(attributes: dict[str, Any]) -> dict[str, str]:
    # moto records them as SNS delivers them: {"Type": ..., "Value": ...}
    return {name: value["Value"] for name, value in attributes.items()}


def test_a_failure_is_published_with_its_attributes(topic: str) -> None:
    result = notify.handler(load_event("sfn_status_failed"), FakeLambdaContext())
    ((subject, body, attributes),) = sent(topic)
    assert result["published"]
    assert subject == "demand test: exec-1 FAILED"
    assert attribute_values(attributes) == {
        "environment": "test",
        "execution_id": "exec-1",
        "status": "FAILED",
        "user": "alice",
        "error": "States.TaskFailed",
        "cause": '{"errorMessage":"job exited 3"}',
        "redrive_count": "1",
        "recipients": '["alice@example.org", "team-genomics"]',
    }
    assert attributes["recipients"]["Type"] == "String.Array"
    assert attributes["redrive_count"]["Type"] == "Number"
    assert body["cause"] == '{"errorMessage":"job exited 3"}'
    assert body["execution_arn"].endswith(":execution:demand-test:exec-1")


def test_a_success_leaves_out_the_attributes_it_has_no_value_for(topic: str) -> None:
    notify.handler(load_event("sfn_status_succeeded"), FakeLambdaContext())
    ((_, body, attributes),) = sent(topic)
    assert "error" not in attributes
    assert "cause" not in attributes
    assert attributes["status"]["Value"] == "SUCCEEDED"
    assert body["recipients"] == ["alice@example.org", "team-genomics"]  # notify_on COMPLETED


def test_an_end_notify_on_does_not_ask_for_is_published_to_nobody(topic: str) -> None:
    # notify_on names COMPLETED and FAILED: a timeout is a failure in the established model...
    notify.handler(load_event("sfn_status_timed_out"), FakeLambdaContext())
    # ...and ABORTED: false in the camelCase request means its recipients are not told.
    notify.handler(load_event("sfn_status_aborted"), FakeLambdaContext())
    (_, timed_out, timed_out_attributes), (_, aborted, aborted_attributes) = sent(topic)
    assert timed_out["recipients"] == ["alice@example.org", "team-genomics"]
    assert "recipients" in timed_out_attributes
    assert aborted["user"] == "bob"
    assert aborted["recipients"] == []
    assert "recipients" not in aborted_attributes
    assert aborted_attributes["status"]["Value"] == "ABORTED"


def test_input_left_out_of_the_event_is_asked_of_step_functions(topic: str) -> None:
    sfn = boto3.client("stepfunctions")
    role = f"arn:aws:iam::{ACCOUNT}:role/sfn"
    machine = sfn.create_state_machine(
        name="demand-test",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]
    spec = {"execution_metadata": {"user": "carol", "notify_list": ["carol@example.org"]}}
    sfn.start_execution(stateMachineArn=machine, name="exec-5", input=json.dumps({"spec": spec}))
    notify.handler(load_event("sfn_status_input_left_out"), FakeLambdaContext())
    ((_, body, attributes),) = sent(topic)
    assert body["user"] == "carol"
    assert attributes["recipients"]["Value"] == '["carol@example.org"]'


def test_a_subscription_filter_policy_picks_its_recipients_ends(topic: str) -> None:
    sqs = boto3.client("sqs")
    sns = boto3.client("sns")
    queues = {}
    for name, policy in {
        "alice": {"recipients": ["alice@example.org"]},
        "failures": {"status": ["FAILED", "TIMED_OUT"]},
        "nobody": {"recipients": ["mallory@example.org"]},
    }.items():
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"FilterPolicy": json.dumps(policy), "RawMessageDelivery": "true"},
        )
        queues[name] = url
    for event in ("sfn_status_failed", "sfn_status_succeeded", "sfn_status_aborted"):
        notify.handler(load_event(event), FakeLambdaContext())

    def statuses(name: str) -> list[str]:
        messages = sqs.receive_message(QueueUrl=queues[name], MaxNumberOfMessages=10)
        return sorted(json.loads(m["Body"])["status"] for m in messages.get("Messages", []))

    assert statuses("alice") == ["FAILED", "SUCCEEDED"]  # bob's abort is not hers
    assert statuses("failures") == ["FAILED"]
    assert statuses("nobody") == []


def test_a_status_that_is_not_an_end_publishes_nothing(topic: str) -> None:
    assert notify.handler(load_event("sfn_status_running"), FakeLambdaContext()) == {
        "published": None
    }
    assert sent(topic) == []


def test_a_malformed_request_still_publishes_its_end(topic: str) -> None:
    event = load_event("sfn_status_failed")
    spec = {"execution_metadata": {"user": "x", "notify_list": ["a\nb"], "notify_on": []}}
    event["detail"]["input"] = json.dumps({"spec": spec})
    notify.handler(event, FakeLambdaContext())
    ((_, body, attributes),) = sent(topic)
    assert body["recipients"] == []
    assert "user" not in attributes
    assert body["note"] == "the request's execution_metadata is not valid"


def test_without_a_topic_the_function_says_which_variable(
    topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMAND_NOTIFICATION_TOPIC_ARN")
    with pytest.raises(ConfigError, match="DEMAND_NOTIFICATION_TOPIC_ARN"):
        notify.handler(load_event("sfn_status_failed"), FakeLambdaContext())


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"notify_on": {"DONE": True}}, "execution_metadata.notify_on.DONE"),
        ({"notify_list": ["ok@example.org", "bad\u0007bell"]}, "execution_metadata.notify_list[1]"),
        ({"notify_list": ["x" * 257]}, "execution_metadata.notify_list[0]"),
        (
            {"notify_list": ["y"] * 21},
            "execution_metadata.notify_list: List should have at most 20",
        ),
    ],
)
def test_a_request_with_bad_notification_fields_is_refused_naming_the_field(
    metadata: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec(spec_dict() | {"execution_metadata": metadata})
    assert any(line.startswith(problem) for line in refused.value.problems)
