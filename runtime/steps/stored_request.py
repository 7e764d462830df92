"""Prepare's reading of a stored request: the request a reference in the execution's input
names (runtime.request_reference), read only where this execution's own request is stored.

The reference comes from whoever started the execution, so it decides nothing: the bucket is
the deployment's (``DEMAND_REQUEST_BUCKET``), the key is derived from the execution's name as
Step Functions gives it, and the stored bytes must have the digest the reference was made with.
No reference can make Prepare read another execution's request, or any other object (the role
may read only the requests prefix besides); what it reads is bounded as every document is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import contract
from runtime.documents import MAX_DOCUMENT_BYTES, parse_document
from runtime.errors import ConfigError, SpecError, is_retryable, translate_client_error
from runtime.request_reference import (
    CARRIED_FIELDS,
    DIGEST_FIELD,
    REFERENCE_FIELD,
    is_reference,
    parse_reference,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What S3 answers when the object is not there: NoSuchKey, or AccessDenied to a role that may
# not list the bucket (Prepare's may not).
_MISSING = frozenset({"NoSuchKey", "AccessDenied", "404", "403"})


def stored_request_uri(bucket: str, execution_name: str) -> str:
    """Where the request of the execution named ``execution_name`` is stored."""
    return f"s3://{bucket}/{contract.request_key(execution_name)}"


def resolved_request(
    spec: object, execution_name: str | None, bucket: str | None, s3: S3Client
) -> object:
    """``spec`` itself, or the stored request it refers to once every check has passed.

    :class:`SpecError` (one line naming the field) for a reference that is not this execution's,
    a stored request that is missing, too large, not the one referred to, or whose
    ``execution_id`` or ``execution_metadata`` differ from the reference's.
    """
    if not is_reference(spec) or not isinstance(spec, Mapping):
        return spec
    reference = parse_reference(spec)
    if execution_name is None:
        raise SpecError(
            [
                f"{REFERENCE_FIELD}: a stored request is read only for an execution of the state "
                "machine, whose name names it"
            ]
        )
    if bucket is None:
        raise ConfigError(
            [f"{contract.ENV_REQUEST_BUCKET}: not set, so this environment reads no stored request"]
        )
    expected = stored_request_uri(bucket, execution_name)
    if reference.uri != expected:
        raise SpecError(
            [
                f"{REFERENCE_FIELD}: {reference.uri!r} is not this execution's stored request; "
                f"its Prepare reads only {expected}"
            ]
        )
    raw = _read(s3, bucket, contract.request_key(execution_name), expected)
    if hashlib.sha256(raw).hexdigest() != reference.sha256:
        raise SpecError(
            [
                f"{DIGEST_FIELD}: {expected} is not the request this execution was started with "
                "(it was written again since); submit the request again under a new execution_id"
            ]
        )
    stored = parse_document(raw, expected, SpecError, as_json=True)
    if not isinstance(stored, Mapping) or is_reference(stored):
        raise SpecError([f"{REFERENCE_FIELD}: {expected} does not hold a request"])
    _check_carried(reference.carried, stored, expected)
    return stored


def _read(s3: S3Client, bucket: str, key: str, uri: str) -> bytes:
    """The object's bytes, at most MAX_DOCUMENT_BYTES + 1 of them (more is refused)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _MISSING and not is_retryable(code, status):
            raise SpecError(
                [
                    f"{REFERENCE_FIELD}: no stored request at {uri} ({code}); stored requests "
                    f"expire {contract.REQUEST_RETENTION_DAYS} days after they are submitted"
                ]
            ) from None
        raise translate_client_error(exc, f"reading {uri}") from None
    body = response["Body"]
    try:
        if response.get("ContentLength", 0) > MAX_DOCUMENT_BYTES:
            raise SpecError(
                [
                    f"{REFERENCE_FIELD}: {uri} is larger than {MAX_DOCUMENT_BYTES // 1024} KiB, "
                    "more than any request needs"
                ]
            )
        return body.read(MAX_DOCUMENT_BYTES + 1)
    finally:
        body.close()


def _check_carried(carried: Mapping[str, Any], stored: Mapping[str, Any], uri: str) -> None:
    """The reference's execution_id and execution_metadata are the stored request's: what reads
    the execution's input for them (who to notify, say) reads what the request says."""
    problems = [
        f"{name}: differs between the execution's input and its stored request {uri}"
        for name in CARRIED_FIELDS
        if carried.get(name) != stored.get(name)
    ]
    if problems:
        raise SpecError(problems)
