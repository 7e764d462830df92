"""Lambda step 2a: register the plan's job definition, reusing an identical one."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from runtime.deployment import DeploymentSettings
from runtime.handlers.aws_clients import aws_client
from runtime.handlers.events import parsed_event
from runtime.handlers.observability import logger
from runtime.handlers.tracing import tracer
from runtime.steps.register import check_definition, register_job_definition
from runtime.steps.roots import ExecutionRoots


class RegisterEvent(BaseModel):
    """The plan's job (``$.plan.job``): the definition as RegisterJobDefinition takes it."""

    execution_id: str
    definition: dict[str, Any]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@parsed_event(RegisterEvent)
def handler(event: RegisterEvent, context: LambdaContext) -> dict[str, str]:
    logger.append_keys(execution_id=event.execution_id)
    settings = DeploymentSettings.from_environment()
    planning = settings.planning()
    roots = ExecutionRoots.of(event.execution_id, planning.volumes)
    resources = settings.execution_resources(aws_client("efs"), aws_client("batch"))
    check_definition(
        event.definition,
        roots,
        name_prefix=planning.context.name_prefix,
        access_point=resources.access_point_view,
    )
    arn = register_job_definition(event.definition, aws_client("batch"))
    logger.info("job definition ready", extra={"job_definition_arn": arn})
    return {"job_definition_arn": arn}
