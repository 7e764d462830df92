from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from runtime.errors import AwsRequestError, TransientAwsError
from runtime.plan.builder import build_plan
from runtime.spec import parse_spec
from runtime.steps.register import register_job_definition
from tests.runtime.specs import spec_dict

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient


@pytest.fixture
def batch() -> Iterator[BatchClient]:
    with mock_aws():
        yield boto3.client("batch", region_name="us-west-2")


def definition(**changes: Any) -> dict[str, Any]:
    return build_plan(parse_spec(spec_dict() | changes)).job.job_definition()


def revisions(batch: BatchClient, name: str) -> list[int]:
    found = batch.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
    return sorted(d["revision"] for d in found)


def test_registering_twice_reuses_the_first_revision(batch: BatchClient) -> None:
    # A retried Register step (or Prepare) must not pile up revisions.
    first = register_job_definition(definition(), batch)
    second = register_job_definition(definition(), batch)
    assert first == second
    assert revisions(batch, definition()["jobDefinitionName"]) == [1]


def test_changed_content_under_the_same_name_gets_a_new_revision(batch: BatchClient) -> None:
    wanted = definition()
    register_job_definition(wanted, batch)
    edited = wanted | {"containerProperties": wanted["containerProperties"] | {"image": "x:2"}}
    arn = register_job_definition(edited, batch)
    assert arn.endswith(":2")
    assert register_job_definition(edited, batch) == arn
    assert revisions(batch, wanted["jobDefinitionName"]) == [1, 2]


def test_each_execution_gets_a_definition_of_its_own(batch: BatchClient) -> None:
    a = register_job_definition(definition(), batch)
    b = register_job_definition(definition(execution_id="another"), batch)
    assert a.rsplit("/", 1)[1].split(":")[0] != b.rsplit("/", 1)[1].split(":")[0]


class FailingBatch:
    def __init__(self, code: str, status: int) -> None:
        response: Any = {
            "Error": {"Code": code, "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        self.error = ClientError(response, "DescribeJobDefinitions")

    def get_paginator(self, _name: str) -> FailingBatch:
        return self

    def paginate(self, **_kwargs: Any) -> list[Any]:
        raise self.error


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("TooManyRequestsException", 429, TransientAwsError),
        ("ServerException", 500, TransientAwsError),
        ("ClientException", 400, AwsRequestError),
    ],
)
def test_aws_errors_are_named_for_the_state_machine(
    code: str, status: int, expected: type[Exception]
) -> None:
    with pytest.raises(expected, match=code):
        register_job_definition(definition(), FailingBatch(code, status))  # type: ignore[arg-type]
