"""An execution's input: the request inline, or a reference to it stored in the data bucket.

Step Functions takes at most 256 KiB of input per execution and carries the input in the state
of every step. A request larger than :data:`INLINE_REQUEST_LIMIT` is therefore stored at
``s3://<data bucket>/requests/<execution id>.json`` and the execution starts with a reference
to it (runtime.request_reference), a few hundred bytes whatever the request's size; Prepare
reads it back (runtime.steps.stored_request).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import contract
from runtime.cloud.errors import CloudError
from runtime.cloud.stack import DeployedEnvironment
from runtime.errors import translate_client_error
from runtime.request_reference import reference_to, stored_body

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The largest input (JSON bytes) an execution starts with inline: well below Step Functions'
# 256 KiB, so that the state (input, plan, results) stays small in every step; a request of a
# few hundred inputs is still inline, and readable in the console as it is.
INLINE_REQUEST_LIMIT = 32 * 1024


def execution_input(
    environment: DeployedEnvironment,
    spec: Mapping[str, Any],
    execution_id: str,
    s3: S3Client | None,
) -> str:
    """The execution's input for ``spec``: ``{"spec": spec}`` when it is at most
    :data:`INLINE_REQUEST_LIMIT` bytes, else ``{"spec": <reference>}`` once ``spec`` is stored."""
    inline = json.dumps({"spec": spec})
    if len(inline.encode()) <= INLINE_REQUEST_LIMIT:
        return inline
    body = stored_body(spec)
    key = contract.request_key(execution_id)
    uri = f"s3://{environment.data_bucket}/{key}"
    if s3 is None:
        raise CloudError(f"the request is too large to start inline and cannot be stored at {uri}")
    try:
        s3.put_object(
            Bucket=environment.data_bucket, Key=key, Body=body, ContentType="application/json"
        )
    except ClientError as exc:
        raise CloudError(
            f"{translate_client_error(exc, f'cannot store the request at {uri}')} "
            f"(a request over {INLINE_REQUEST_LIMIT // 1024} KiB is stored there: "
            f"s3:PutObject on {contract.REQUESTS_PREFIX}* of the data bucket)"
        ) from None
    return json.dumps({"spec": reference_to(spec, uri, body)})
