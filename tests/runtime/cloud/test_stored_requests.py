"""`demand submit`'s side of a large request: stored in the data bucket, referred to inline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import CloudError, ExecutionExistsError
from runtime.cloud.executions import submit_execution
from runtime.cloud.requests import INLINE_REQUEST_LIMIT
from runtime.cloud.stack import DeployedEnvironment
from runtime.steps.notify import requester_of
from tests.runtime.cloud.conftest import DATA_BUCKET
from tests.runtime.cloud.test_commands import _app
from tests.runtime.specs import spec_dict


def many_inputs(execution_id: str, inputs: int) -> dict[str, Any]:
    """A request of ``inputs`` inputs in dev's data bucket."""
    params: dict[str, Any] = {
        f"in_{i}": f"s3://{DATA_BUCKET}/inputs/sample-{i:05}.fastq.gz" for i in range(inputs)
    }
    params["output"] = "out.txt"
    return spec_dict(
        command=["align", "--all"],
        params=params,
        inputs=[name for name in params if name.startswith("in_")],
        outputs=["output"],
        output_s3_prefix=f"s3://{DATA_BUCKET}/results/",
    ) | {"execution_id": execution_id, "execution_platform": {}}


@pytest.fixture
def data_bucket(clients: AwsClients) -> str:
    assert clients.s3 is not None
    clients.s3.create_bucket(
        Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    return DATA_BUCKET


def _input(clients: AwsClients, arn: str) -> str:
    return clients.stepfunctions.describe_execution(executionArn=arn)["input"]


def _stored_keys(clients: AwsClients) -> list[str]:
    assert clients.s3 is not None
    listed = clients.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="requests/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_small_request_starts_inline_and_stores_nothing(
    environment: DeployedEnvironment, clients: AwsClients, data_bucket: str
) -> None:
    spec = spec_dict()
    arn = submit_execution(environment, spec, clients.stepfunctions, clients.s3)
    assert json.loads(_input(clients, arn)) == {"spec": spec}
    assert _stored_keys(clients) == []


def test_a_large_request_is_stored_and_the_execution_starts_with_a_reference(
    environment: DeployedEnvironment, clients: AwsClients, data_bucket: str
) -> None:
    spec = many_inputs("big-1", 4_000)
    inline = len(json.dumps({"spec": spec}).encode())
    assert inline > 256 * 1024  # more than Step Functions takes
    arn = submit_execution(environment, spec, clients.stepfunctions, clients.s3)
    started_with = _input(clients, arn)
    assert len(started_with.encode()) < 1024
    assert _stored_keys(clients) == ["requests/big-1.json"]
    assert clients.s3 is not None
    stored = clients.s3.get_object(Bucket=DATA_BUCKET, Key="requests/big-1.json")["Body"].read()
    assert json.loads(stored) == spec
    reference = json.loads(started_with)["spec"]
    assert reference == {
        "$request": f"s3://{DATA_BUCKET}/requests/big-1.json",
        "$sha256": hashlib.sha256(stored).hexdigest(),
        "execution_id": "big-1",
        "execution_metadata": spec["execution_metadata"],
    }
    # Who asked is read from the execution's input, as for an inline request.
    assert requester_of(started_with).user == "ada"


def test_the_limit_is_on_the_whole_input(
    environment: DeployedEnvironment, clients: AwsClients, data_bucket: str
) -> None:
    padding = INLINE_REQUEST_LIMIT - len(json.dumps({"spec": spec_dict()}).encode())
    at_limit = spec_dict() | {"execution_type": "custom" + "x" * padding}
    assert len(json.dumps({"spec": at_limit}).encode()) == INLINE_REQUEST_LIMIT
    arn = submit_execution(environment, at_limit, clients.stepfunctions, clients.s3)
    assert json.loads(_input(clients, arn)) == {"spec": at_limit}
    over = at_limit | {"execution_id": "exec-2", "execution_type": at_limit["execution_type"] + "x"}
    arn = submit_execution(environment, over, clients.stepfunctions, clients.s3)
    assert "$request" in json.loads(_input(clients, arn))["spec"]


def test_an_id_in_use_is_refused_before_its_stored_request_is_touched(
    environment: DeployedEnvironment, clients: AwsClients, data_bucket: str
) -> None:
    first = many_inputs("big-1", 1_000)
    submit_execution(environment, first, clients.stepfunctions, clients.s3)
    with pytest.raises(ExecutionExistsError):
        submit_execution(environment, many_inputs("big-1", 999), clients.stepfunctions, clients.s3)
    assert clients.s3 is not None
    stored = clients.s3.get_object(Bucket=DATA_BUCKET, Key="requests/big-1.json")["Body"].read()
    assert json.loads(stored) == first


def test_a_request_that_cannot_be_stored_starts_nothing(
    environment: DeployedEnvironment, clients: AwsClients
) -> None:
    # No bucket: S3 refuses the put, as it would a user without s3:PutObject there.
    with pytest.raises(CloudError) as info:
        submit_execution(
            environment, many_inputs("big-1", 1_000), clients.stepfunctions, clients.s3
        )
    message = str(info.value)
    assert message.startswith(
        f"cannot store the request at s3://{DATA_BUCKET}/requests/big-1.json: NoSuchBucket"
    )
    assert message.endswith("s3:PutObject on requests/* of the data bucket)")
    listed = clients.stepfunctions.list_executions(stateMachineArn=environment.state_machine_arn)
    assert listed["executions"] == []


def test_demand_submit_stores_a_large_request(
    environment: DeployedEnvironment, clients: AwsClients, data_bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(many_inputs("big-2", 600)))  # over the inline limit
    result = CliRunner().invoke(_app(), ["submit", str(path), "--env", "dev"])
    assert result.exit_code == 0, result.output
    started_with = json.loads(_input(clients, environment.execution_arn("big-2")))
    assert started_with["spec"]["$request"] == f"s3://{DATA_BUCKET}/requests/big-2.json"
    assert _stored_keys(clients) == ["requests/big-2.json"]
