"""The Lambda steps of the state machine, packaged from ``runtime/``.

Only the handlers' entry points are named here; what they do lives in ``runtime/``. Each
function gets its own role; the stack grants each only what its step uses. The names the
handlers read (their environment, the mount path) come from ``runtime.contract``.
"""

from __future__ import annotations

import json
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

    def variables(self, settings: FunctionSettings) -> dict[str, str]:
        return self.planning | {
            contract.ENV_ENVIRONMENT: self.environment_name,
            contract.ENV_FILE_SYSTEM_ID: self.file_system_id,
            contract.ENV_SHARED_ACCESS_POINT_ID: self.shared_access_point_id,
            contract.ENV_USE_TMP_VOLUME: "true",
            contract.ENV_ALLOWED_BUCKETS: Fn.join(",", self.allowed_buckets),
            contract.ENV_EFS_MOUNT_PATH: contract.LAMBDA_EFS_MOUNT_PATH,
            contract.ENV_MIRROR_OUTPUTS: "true" if self.mirror_outputs else "false",
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
        self._vpc = vpc
        self._subnets = subnets
        self._access_point = access_point
        self._log_retention = log_retention
        self._removal_policy = removal_policy
        self._variables = environment.variables(settings)
        self._code = lambda_.Code.from_asset(
            str(bundle.path), asset_hash=bundle.digest, asset_hash_type=AssetHashType.CUSTOM
        )
        # The same package and variables for the functions outside the state machine
        # (infra/constructs/notifications.py, infra/constructs/cache_pruning.py).
        self.code, self.variables = self._code, self._variables
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
        log_group = logs.LogGroup(
            self,
            f"{step.construct_id}Logs",
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        return lambda_.Function(
            self,
            step.construct_id,
            description=step.description,
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=step.handler,
            code=self._code,
            timeout=step.timeout,
            memory_size=step.memory_mb,
            environment=self._variables,
            vpc=self._vpc,
            vpc_subnets=self._subnets,
            security_groups=[self.security_group],
            filesystem=(
                lambda_.FileSystem.from_efs_access_point(
                    self._access_point, contract.LAMBDA_EFS_MOUNT_PATH
                )
                if step.mounts_file_system
                else None
            ),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )
