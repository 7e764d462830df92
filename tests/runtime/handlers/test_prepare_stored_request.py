"""Prepare given a reference to a stored request: it plans the request, read only from where
this execution's own request is stored, and refuses every other reference in one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from runtime.cli.app import app
from runtime.documents import MAX_DOCUMENT_BYTES
from runtime.errors import ConfigError, SpecError
from runtime.handlers import prepare
from runtime.plan.models import ExecutionPlan
from runtime.request_reference import reference_to, stored_body
from tests.lambda_context import FakeLambdaContext
from tests.runtime.specs import spec_dict

BUCKET = "demand-test-data"
ARN = "arn:aws:states:us-west-2:123456789012:execution:demand-test:{name}:1"


def many_inputs(inputs: int, execution_id: str = "exec-1") -> dict[str, Any]:
    params: dict[str, Any] = {f"in_{i}": f"s3://bucket/inputs/{i:05}.txt" for i in range(inputs)}
    params["output"] = "out.txt"
    return spec_dict(
        command=["align", "--all"],
        params=params,
        inputs=[name for name in params if name.startswith("in_")],
        outputs=["output"],
    ) | {"execution_id": execution_id}


@pytest.fixture
def s3(efs: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The deployment's request bucket, in moto, named to Prepare."""
    monkeypatch.setenv("DEMAND_REQUEST_BUCKET", BUCKET)
    client = boto3.client("s3", region_name="us-west-2")
    for bucket in (BUCKET, "another-bucket"):
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    return client


def store(
    s3: Any, spec: dict[str, Any], key: str = "requests/exec-1.json", **kw: Any
) -> dict[str, Any]:
    """Store ``spec`` as `demand submit` does; the reference to it."""
    bucket = kw.get("bucket", BUCKET)
    body = stored_body(spec)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return reference_to(spec, f"s3://{bucket}/{key}", body)


def event(reference: dict[str, Any], name: str = "exec-1") -> dict[str, Any]:
    return {"spec": reference, "execution": ARN.format(name=name), "execution_name": name}


def refusal(efs: Path, reference: dict[str, Any], name: str = "exec-1") -> list[str]:
    with pytest.raises(SpecError) as info:
        prepare.handler(event(reference, name), FakeLambdaContext())
    assert list(efs.iterdir()) == []  # nothing laid out, nothing claimed
    return info.value.problems


def test_a_stored_request_is_planned_as_if_inline(efs: Path, s3: Any) -> None:
    spec = many_inputs(4_000)
    result = prepare.handler(event(store(s3, spec)), FakeLambdaContext())
    assert result["execution_id"] == "exec-1"
    stored = ExecutionPlan.model_validate_json((efs / "control/exec-1/plan.json").read_bytes())
    assert len(stored.inputs) == 4_000
    assert sum(item["stop"] - item["start"] for item in result["stage_in"]["items"]) == 4_000
    # What the state machine keeps after Prepare stays small whatever the request's size.
    assert len(json.dumps(result).encode()) < 64 * 1024


def test_a_reference_to_another_bucket_is_refused(efs: Path, s3: Any) -> None:
    reference = store(s3, spec_dict(), bucket="another-bucket")
    assert refusal(efs, reference) == [
        "$request: 's3://another-bucket/requests/exec-1.json' is not this execution's stored "
        f"request; its Prepare reads only s3://{BUCKET}/requests/exec-1.json"
    ]


@pytest.mark.parametrize(
    "key",
    [
        "requests/exec-2.json",  # another execution's request
        "inputs/exec-1.json",  # any other object of the bucket
        "requests/exec-1.yaml",
        "requests/../requests/exec-1.json",
        "requests/exec-1.json/x",
    ],
)
def test_a_reference_to_another_key_is_refused(efs: Path, s3: Any, key: str) -> None:
    reference = store(s3, spec_dict(), key=key)
    (problem,) = refusal(efs, reference)
    assert problem.startswith(f"$request: 's3://{BUCKET}/{key}' is not this execution's")


def test_another_executions_request_is_refused_even_named_by_its_own_id(efs: Path, s3: Any) -> None:
    # The execution is exec-1; the reference and its request are exec-2's, whole.
    reference = store(s3, spec_dict() | {"execution_id": "exec-2"}, key="requests/exec-2.json")
    (problem,) = refusal(efs, reference, name="exec-1")
    assert problem.startswith(f"$request: 's3://{BUCKET}/requests/exec-2.json' is not this")


def test_a_request_written_again_after_submit_is_refused(efs: Path, s3: Any) -> None:
    reference = store(s3, spec_dict())
    store(s3, spec_dict(command=["rm", "-rf", "/"]))  # the same key, other bytes
    assert refusal(efs, reference) == [
        f"$sha256: s3://{BUCKET}/requests/exec-1.json is not the request this execution was "
        "started with (it was written again since); submit the request again under a new "
        "execution_id"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("execution_id", "exec-2"),
        ("execution_metadata", {"user": "mallory", "notify_list": ["mallory@example.org"]}),
    ],
)
def test_a_reference_that_disagrees_with_its_request_is_refused(
    efs: Path, s3: Any, field: str, value: object
) -> None:
    reference = store(s3, spec_dict()) | {field: value}
    assert refusal(efs, reference) == [
        f"{field}: differs between the execution's input and its stored request "
        f"s3://{BUCKET}/requests/exec-1.json"
    ]


def test_an_oversized_request_is_refused_unread(efs: Path, s3: Any) -> None:
    body = b"{" + b" " * MAX_DOCUMENT_BYTES + b"}"
    s3.put_object(Bucket=BUCKET, Key="requests/exec-1.json", Body=body)
    uri = f"s3://{BUCKET}/requests/exec-1.json"
    reference = {"$request": uri, "$sha256": hashlib.sha256(body).hexdigest()}
    assert refusal(efs, reference | {"execution_id": "exec-1"}) == [
        f"$request: {uri} is larger than 1024 KiB, more than any request needs"
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1, 2", ":1:6: not valid JSON: Expecting ',' delimiter"),
        (b'{"a": 1, "a": 2}', ":1: a: duplicate key (first on line 1)"),
        (b"[" * 100, ":1: [0][0][0][0][0][0][0][0][0][0][0][0]…: nested deeper than 64 levels"),
        (b'{"$request": "s3://x/y", "execution_id": "exec-1"}', " does not hold a request"),
    ],
)
def test_a_stored_document_that_is_no_request_is_refused(
    efs: Path, s3: Any, body: bytes, problem: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key="requests/exec-1.json", Body=body)
    uri = f"s3://{BUCKET}/requests/exec-1.json"
    reference = {"$request": uri, "$sha256": hashlib.sha256(body).hexdigest()}
    (line,) = refusal(efs, reference | {"execution_id": "exec-1"})
    assert problem in line
    assert uri in line


def test_a_missing_request_is_refused(efs: Path, s3: Any) -> None:
    reference = store(s3, spec_dict())
    s3.delete_object(Bucket=BUCKET, Key="requests/exec-1.json")
    assert refusal(efs, reference) == [
        f"$request: no stored request at s3://{BUCKET}/requests/exec-1.json (NoSuchKey); "
        "stored requests expire 30 days after they are submitted"
    ]


def test_a_malformed_reference_names_each_field(efs: Path, s3: Any) -> None:
    reference = {"$request": 7, "$sha256": "abc", "execution_id": "exec-1", "image": "x"}
    assert refusal(efs, reference) == [
        "image: unknown field (a stored request's reference holds $request, $sha256 and the "
        "request's execution_id and execution_metadata only)",
        "$request: expected an s3:// URI of at most 2048 characters",
        "$sha256: expected the stored request's SHA-256, 64 hex digits",
    ]


def test_a_reference_outside_an_execution_is_refused(efs: Path, s3: Any) -> None:
    with pytest.raises(SpecError, match=r"^\$request: a stored request is read only for an"):
        prepare.handler({"spec": store(s3, spec_dict())}, FakeLambdaContext())


def test_an_environment_without_a_request_bucket_reads_none(
    efs: Path, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = store(s3, spec_dict())
    monkeypatch.delenv("DEMAND_REQUEST_BUCKET")
    with pytest.raises(ConfigError, match=r"^DEMAND_REQUEST_BUCKET: not set"):
        prepare.handler(event(reference), FakeLambdaContext())


def test_a_reference_run_locally_is_refused_in_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "input.json"
    uri = f"s3://{BUCKET}/requests/exec-1.json"
    spec.write_text(json.dumps({"$request": uri, "$sha256": "0" * 64, "execution_id": "exec-1"}))
    for command in ("run", "plan"):
        result = CliRunner().invoke(app, [command, str(spec)])
        assert result.exit_code == 125, result.output
        assert "Traceback" not in result.output + result.stderr
        assert result.stderr.strip().splitlines() == [
            "error: $request: this refers to a request stored for a deployed execution; run the "
            f"request itself (aws s3 cp {uri} request.json)"
        ]
