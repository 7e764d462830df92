"""Lambda step 2a: register the plan's job definition, reusing an identical one."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.handlers.observability import logger, tracer
from runtime.steps.register import register_job_definition


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    # The event is the plan's job definition, as RegisterJobDefinition takes it.
    arn = register_job_definition(event, boto3.client("batch"))
    logger.info("job definition ready", extra={"job_definition_arn": arn})
    return {"job_definition_arn": arn}
