"""Lambda step 1: validate the spec and plan the execution (runtime.steps.prepare)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from runtime.deployment import DeploymentSettings
from runtime.handlers.aws_clients import aws_client
from runtime.handlers.events import parsed_event
from runtime.handlers.observability import logger
from runtime.handlers.tracing import tracer
from runtime.request_reference import is_reference
from runtime.reuse.dynamodb_records import DynamoDbRecords
from runtime.steps.prepare import ExecutionOwner, prepare_execution
from runtime.steps.reuse import ReuseAccess
from runtime.steps.stored_request import resolved_request


class PrepareEvent(BaseModel):
    spec: dict[str, Any]  # the request, or a reference to it stored (runtime.request_reference)
    # The Step Functions execution (its ARN and name), which the state machine passes.
    execution: str | None = None
    execution_name: str | None = None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@parsed_event(PrepareEvent)
def handler(event: PrepareEvent, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(execution_id=event.spec.get("execution_id"))
    settings = DeploymentSettings.from_environment()
    resources = settings.execution_resources(aws_client("efs"), aws_client("batch"))
    owner = (
        ExecutionOwner(arn=event.execution, name=event.execution_name)
        if event.execution and event.execution_name
        else None
    )
    spec: object = event.spec
    if is_reference(spec):
        name = owner.name if owner is not None else None
        spec = resolved_request(spec, name, settings.request_bucket, aws_client("s3"))
    reuse = (
        ReuseAccess(
            store=DynamoDbRecords(settings.reuse_table, aws_client("dynamodb")),
            s3_client=aws_client("s3"),
        )
        if settings.reuse_table
        else None
    )
    result = prepare_execution(
        spec, settings.planning(), settings.mounts(), resources, owner=owner, reuse=reuse
    )
    if result.get("reused_from"):
        logger.info("reused", extra={"reused_from": result["reused_from"]})
        return result
    logger.info("planned", extra={"job_definition": result["job"]["definition"]})
    return result
