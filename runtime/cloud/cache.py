"""`demand cache list|prune --env`: the environment's cache pruning function, invoked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import contract
from runtime.cloud.errors import CloudError, EnvironmentNotFoundError
from runtime.cloud.stack import DeployedEnvironment

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


def invoke_cache_function(
    environment: DeployedEnvironment, event: dict[str, Any], functions: LambdaClient
) -> dict[str, Any]:
    """Run the pruning function on ``event`` (``{"action": "list"}``, ``{"action": "prune",
    ...}``) and return its answer; a failure of the function is one line."""
    name = environment.cache_prune_function
    if name is None:
        raise EnvironmentNotFoundError(
            f"stack {environment.stack_name} lacks the output "
            f"{contract.OUTPUT_CACHE_PRUNE_FUNCTION_NAME}; redeploy it with this version of "
            "the project"
        )
    try:
        response = functions.invoke(
            FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise EnvironmentNotFoundError(
                f"the cache function {name} of stack {environment.stack_name} does not exist; "
                "redeploy the stack"
            ) from None
        raise
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else None
        kind = payload.get("errorType") if isinstance(payload, dict) else None
        raise CloudError(f"the cache function failed: {kind or 'error'}: {message or payload}")
    if not isinstance(payload, dict):
        raise CloudError(f"the cache function answered {payload!r}, not an object")
    return payload
