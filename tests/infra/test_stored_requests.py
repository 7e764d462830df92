"""Stored requests in the template: Prepare told the bucket and allowed to read its requests
prefix only, staging kept out of it, and a lifecycle rule that expires what is stored there."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import contract
from tests.infra.test_resources import _as_list, _role_of, _role_statements, _step_functions
from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources


def _data_bucket(template: dict[str, Any]) -> str:
    """The logical id of the created data bucket (the one with server access logging)."""
    (logical_id,) = (
        logical_id
        for logical_id, bucket in resources(template, "AWS::S3::Bucket").items()
        if "LoggingConfiguration" in bucket["Properties"]
    )
    return logical_id


def _requests_objects(template: dict[str, Any], environment: str) -> Any:
    """The requests prefix's objects as the template writes the ARN."""
    if environment == "imported":  # an existing bucket, by name, in a known partition
        return "arn:aws:s3:::existing-demand-data/requests/*"
    return {"Fn::Join": ["", [{"Fn::GetAtt": [_data_bucket(template), "Arn"]}, "/requests/*"]]}


def _bucket_name(template: dict[str, Any], environment: str) -> Any:
    return "existing-demand-data" if environment == "imported" else {"Ref": _data_bucket(template)}


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_prepare_reads_the_requests_prefix_only(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    steps = _step_functions(template)
    prepare = steps["prepare"]["Properties"]
    assert prepare["Environment"]["Variables"][contract.ENV_REQUEST_BUCKET] == _bucket_name(
        template, environment
    )
    s3_statements = [
        statement
        for statement in _role_statements(template, _role_of(steps["prepare"]))
        if any(action.startswith("s3:") for action in _as_list(statement["Action"]))
    ]
    (read,) = [s for s in s3_statements if s.get("Sid") == "ReadStoredRequests"]
    assert read == {
        "Sid": "ReadStoredRequests",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": _requests_objects(template, environment),
    }
    # Results reused (docs/reuse.md) list, HEAD and copy; never onto a stored request.
    (deny,) = [s for s in s3_statements if s.get("Sid") == "NeverCopyOntoStoredRequests"]
    assert deny["Effect"] == "Deny"
    assert deny["Resource"] == _requests_objects(template, environment)
    assert set(_as_list(deny["Action"])) == {"s3:PutObject*", "s3:DeleteObject*"}
    cleanup = _role_statements(template, _role_of(steps["cleanup"]))
    (hidden,) = [s for s in cleanup if s.get("Sid") == "NeverReadStoredRequests"]
    assert hidden["Effect"] == "Deny"
    assert hidden["Resource"] == _requests_objects(template, environment)


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_staging_never_touches_a_stored_request(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    sync = _step_functions(template)["sync"]
    (deny,) = (
        statement
        for statement in _role_statements(template, _role_of(sync))
        if statement.get("Sid") == "NeverStageStoredRequests"
    )
    assert deny == {
        "Sid": "NeverStageStoredRequests",
        "Effect": "Deny",
        "Action": ["s3:DeleteObject*", "s3:GetObject*", "s3:PutObject*"],
        "Resource": _requests_objects(template, environment),
    }


@pytest.mark.parametrize("environment", [e for e in ALL_ENVIRONMENTS if e != "imported"])
def test_the_data_bucket_expires_stored_requests(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    bucket = template["Resources"][_data_bucket(template)]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "ExpireStoredRequests",
        "Prefix": contract.REQUESTS_PREFIX,
        "ExpirationInDays": contract.REQUEST_RETENTION_DAYS,
        "Status": "Enabled",
    } in rules
    # Longer than Step Functions lets an execution be redriven: a Prepare redriven finds it.
    assert contract.REQUEST_RETENTION_DAYS > 14
