"""One definition of an environment's Standard state machine and its log group: both the
execution state machine and the run-set state machine are traced and log every state's record,
but not its data (each request's parameters) unless the environment asks for it while debugging.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


def logged_state_machine(
    scope: Construct,
    state_machine_name: str,
    definition: sfn.IChainable,
    *,
    timeout: Duration | None,
    log_retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
    log_execution_data: bool,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """The state machine ``StateMachine`` and its log group ``Logs``, made in ``scope``."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"/aws/vendedlogs/states/{state_machine_name}",
        retention=log_retention,
        removal_policy=removal_policy,
    )
    state_machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=state_machine_name,
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel.ALL,
            include_execution_data=log_execution_data,
        ),
    )
    return state_machine, log_group
