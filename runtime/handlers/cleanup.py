"""Lambda step 5: remove the execution's working dir (and isolated inputs), nothing else."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from runtime.deployment import DeploymentSettings
from runtime.handlers.aws_clients import aws_client
from runtime.handlers.events import parsed_event
from runtime.handlers.observability import logger
from runtime.handlers.tracing import tracer
from runtime.reuse.dynamodb_records import DynamoDbRecords
from runtime.reuse.lookup import SeenState
from runtime.steps.cleanup import CleanupItem, clean_up_execution
from runtime.steps.failure import explained_error
from runtime.steps.reuse import ReuseAccess, after_stage_out


class CleanupEvent(BaseModel):
    cleanup: CleanupItem
    # FAILED: from the "Cleanup after failure" state of the state machine's earlier definition,
    # which executions started before a deploy still run; the current one cleans up failures
    # from outside (runtime.handlers.stopped), so that they can be redriven first.
    status: Literal["SUCCEEDED", "FAILED"]
    error: dict[str, Any] | None = None
    # What Prepare's reuse check saw (null: not reusable): recorded after a success.
    reuse: SeenState | None = None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@parsed_event(CleanupEvent)
def handler(event: CleanupEvent, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(execution_id=event.cleanup.execution_id)
    settings = DeploymentSettings.from_environment()
    if event.status == "SUCCEEDED" and event.reuse is not None and settings.reuse_table:
        # Before the working dir goes: the record lists the outputs the job produced there.
        access = ReuseAccess(
            store=DynamoDbRecords(settings.reuse_table, aws_client("dynamodb")),
            s3_client=None,
        )
        recorded = after_stage_out(
            event.reuse,
            event.cleanup.execution_id,
            settings.planning(),
            settings.mounts(),
            access,
        )
        logger.info("reuse record", extra={"reuse": recorded})
    removed = clean_up_execution(
        event.cleanup,
        volumes=settings.planning().volumes,
        mounts=settings.mounts(),
        succeeded=event.status == "SUCCEEDED",
        resources=settings.execution_resources(aws_client("efs"), aws_client("batch")),
    )
    logger.info("cleaned up", extra={"removed": removed, "status": event.status})
    if event.status == "SUCCEEDED":
        return {"removed": removed}
    # After a failure, the error the execution fails with: the state machine's own, or for a
    # job that never started, one that says why and what to change.
    error = explained_error(event.error) or {}
    return {
        "removed": removed,
        "error": {"Error": str(error.get("Error", "")), "Cause": str(error.get("Cause", ""))},
    }
