"""The Lambda steps of the state machine, packaged from ``runtime/``.

Only the handlers' entry points are named here; what they do lives in ``runtime/``. Each
function gets its own role; the stack grants each only what its step uses. The names the
handlers read (their environment, the mount path) come from ``runtime.contract``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import AssetHashType, Duration, Fn, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import FunctionSettings
from infra.lambda_code import LambdaBundle
from runtime import contract

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14  # keep in step with lambda_code.LAMBDA_PYTHON_VERSION


@dataclass(frozen=True)
class FunctionPlacement:
    """Where every function of an environment runs: its package and runtime, the VPC and
    security group, the file system's Lambda access point, how its logs are kept."""

    code: lambda_.Code
    runtime: lambda_.Runtime
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup
    access_point: efs.IAccessPoint
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy


def placed_function(
    scope: Construct,
    construct_id: str,
    placement: FunctionPlacement,
    *,
    log_group_id: str,
    description: str,
    handler: str,
    timeout: Duration,
    memory_size: int,
    environment: Mapping[str, str],
    mounts_file_system: bool = True,
) -> lambda_.Function:
    """One function of the environment, arm64 and traced, in its VPC, with its own log group
    (``log_group_id`` in ``scope``) and, unless told otherwise, the file system mounted where
    the handlers expect it (``runtime.contract.LAMBDA_EFS_MOUNT_PATH``)."""
    log_group = logs.LogGroup(
        scope,
        log_group_id,
        retention=placement.log_retention,
        removal_policy=placement.removal_policy,
    )
    return lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=placement.runtime,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=placement.code,
        timeout=timeout,
        memory_size=memory_size,
        environment=dict(environment),
        vpc=placement.vpc,
        vpc_subnets=placement.subnets,
        security_groups=[placement.security_group],
        filesystem=(
            lambda_.FileSystem.from_efs_access_point(
                placement.access_point, contract.LAMBDA_EFS_MOUNT_PATH
            )
            if mounts_file_system
            else None
        ),
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
    )


@dataclass(frozen=True)
class StepEnvironment:
    """What the handlers read from their environment (the contract with ``runtime.handlers``)."""

    environment_name: str
    file_system_id: str
    shared_access_point_id: str
    allowed_buckets: list[str]
    default_job_queue: str
    gpu_job_queue: str  # empty when the environment has no GPU queue
    default_job_role_arn: str
    # By queue name, the largest job each can place (vcpus, memory MiB, gpu; None: not known).
    queue_limits: dict[str, dict[str, int | None]]
    # How each execution is planned: infra.config.PlanningSettings.variables().
    planning: dict[str, str]
    mirror_outputs: bool = False
    # The data bucket, whose requests prefix holds the requests `demand submit` stored (only
    # Prepare may read them: infra/stacks.py); empty: none are read.
    request_bucket: str = ""
    # The table of reuse records (Prepare reads it, Cleanup writes it); empty: reuse is off.
    reuse_table: str = ""

    def variables(self, settings: FunctionSettings) -> dict[str, str]:
        return self.planning | {
            contract.ENV_ENVIRONMENT: self.environment_name,
            contract.ENV_FILE_SYSTEM_ID: self.file_system_id,
            contract.ENV_SHARED_ACCESS_POINT_ID: self.shared_access_point_id,
            contract.ENV_USE_TMP_VOLUME: "true",
            contract.ENV_ALLOWED_BUCKETS: Fn.join(",", self.allowed_buckets),
            contract.ENV_EFS_MOUNT_PATH: contract.LAMBDA_EFS_MOUNT_PATH,
            contract.ENV_MIRROR_OUTPUTS: "true" if self.mirror_outputs else "false",
            contract.ENV_REQUEST_BUCKET: self.request_bucket,
            contract.ENV_REUSE_TABLE: self.reuse_table,
            contract.ENV_DEFAULT_JOB_QUEUE: self.default_job_queue,
            contract.ENV_GPU_JOB_QUEUE: self.gpu_job_queue,
            contract.ENV_DEFAULT_JOB_ROLE_ARN: self.default_job_role_arn,
            contract.ENV_QUEUE_LIMITS: json.dumps(
                self.queue_limits, sort_keys=True, separators=(",", ":")
            ),
            contract.ENV_POWERTOOLS_SERVICE_NAME: settings.service_name,
            contract.ENV_POWERTOOLS_LOG_LEVEL: settings.log_level,
        }


@dataclass(frozen=True)
class _Step:
    construct_id: str
    handler: str
    description: str
    timeout: Duration
    memory_mb: int
    mounts_file_system: bool


class LambdaSteps(Construct):
    """prepare, register, sync and cleanup: arm64, in the VPC's private subnets, traced."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bundle: LambdaBundle,
        settings: FunctionSettings,
        environment: StepEnvironment,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        access_point: efs.IAccessPoint,
        file_system: ec2.IConnectable,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._variables = environment.variables(settings)
        code = lambda_.Code.from_asset(
            str(bundle.path), asset_hash=bundle.digest, asset_hash_type=AssetHashType.CUSTOM
        )
        # The same package and variables for the functions outside the state machine
        # (infra/constructs/notifications.py, cache_pruning.py, stopped_cleanup.py).
        self.code, self.variables = code, self._variables
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Lambda steps: HTTPS to AWS APIs, NFS to the file system",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs"
        )
        self.placement = FunctionPlacement(
            code=code,
            runtime=LAMBDA_RUNTIME,
            vpc=vpc,
            subnets=subnets,
            security_group=self.security_group,
            access_point=access_point,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        # Before the functions exist, so that each waits for these rules when deployed.
        self.security_group.connections.allow_to(
            file_system, ec2.Port.tcp(2049), "NFS to the shared file system"
        )

        self.prepare = self._function(
            _Step(
                "Prepare",
                "runtime.handlers.prepare.handler",
                "Validates a spec and builds its ExecutionPlan",
                Duration.minutes(1),
                512,
                mounts_file_system=True,
            )
        )
        self.register = self._function(
            _Step(
                "Register",
                "runtime.handlers.register.handler",
                "Registers (or reuses) the plan's Batch job definition",
                Duration.seconds(30),
                256,
                mounts_file_system=False,
            )
        )
        self.sync = self._function(
            _Step(
                "Sync",
                "runtime.handlers.sync.handler",
                "Copies one input or output between S3 and the file system, resumably",
                Duration.minutes(15),
                settings.sync_memory_mb,
                mounts_file_system=True,
            )
        )
        self.cleanup = self._function(
            _Step(
                "Cleanup",
                "runtime.handlers.cleanup.handler",
                "Removes an execution's working files per its cleanup policy",
                Duration.minutes(5),
                512,
                mounts_file_system=True,
            )
        )
        self.all = [self.prepare, self.register, self.sync, self.cleanup]
        self.with_file_system = [self.prepare, self.sync, self.cleanup]

    def _function(self, step: _Step) -> lambda_.Function:
        return placed_function(
            self,
            step.construct_id,
            self.placement,
            log_group_id=f"{step.construct_id}Logs",
            description=step.description,
            handler=step.handler,
            timeout=step.timeout,
            memory_size=step.memory_mb,
            environment=self._variables,
            mounts_file_system=step.mounts_file_system,
        )
