"""One environment's stack: the constructs, the grants between them, and what the CLI reads."""

from __future__ import annotations

from typing import Any, cast

import jsii
from aws_cdk import Aspects, CfnOutput, Duration, Environment, IAspect, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from infra import nag
from infra.config import EnvironmentSettings
from infra.constructs.cache_pruning import CachePruning
from infra.constructs.compute import BatchCompute
from infra.constructs.file_system_layout import FileSystemLayout
from infra.constructs.functions import LAMBDA_RUNTIME, LambdaSteps, StepEnvironment
from infra.constructs.network import Network
from infra.constructs.notifications import Notifications
from infra.constructs.orchestration import Orchestration
from infra.constructs.reuse_records import ReuseRecords
from infra.constructs.run_sets import RunSets
from infra.constructs.stopped_cleanup import StoppedExecutionCleanup
from infra.constructs.storage import DataBucket, SharedFileSystem
from infra.lambda_code import LambdaBundle
from runtime import contract

_EFS = "elasticfilesystem:"
# Where AWS Batch sends every job's output unless a job definition says otherwise.
BATCH_JOB_LOG_GROUP = "/aws/batch/job"

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


@jsii.implements(IAspect)
class _EncryptLogGroups:
    """Every log group of the stack encrypted with the environment's KMS key."""

    def __init__(self, key_arn: str) -> None:
        self._key_arn = key_arn

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup):
            node.kms_key_id = self._key_arn


class DemandStack(Stack):
    """``demand-<env>``: network, storage, Batch, the Lambda steps and the state machine."""

    def __init__(
        self, scope: Construct, *, settings: EnvironmentSettings, bundle: LambdaBundle
    ) -> None:
        account_or_region = settings.account is not None or settings.region is not None
        super().__init__(
            scope,
            settings.stack_name,
            stack_name=settings.stack_name,
            description=(
                f"Demand executions, {settings.name} environment: EFS, AWS Batch, "
                "the Lambda steps and the state machine"
            ),
            env=(
                Environment(account=settings.account, region=settings.region)
                if account_or_region
                else None
            ),
            termination_protection=settings.removal_policy == "retain",
        )
        removal_policy = (
            RemovalPolicy.RETAIN if settings.removal_policy == "retain" else RemovalPolicy.DESTROY
        )
        log_retention = _RETENTION[settings.log_retention_days]

        network = Network(
            self,
            "Network",
            settings=settings.network,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        vpc, subnets = network.vpc, network.private_subnets
        storage = SharedFileSystem(
            self,
            "Storage",
            vpc=vpc,
            subnets=subnets,
            settings=settings.file_system,
            removal_policy=removal_policy,
        )
        data = DataBucket(
            self,
            "Data",
            settings=settings.data_bucket,
            removal_policy=removal_policy,
            access_log_retention=Duration.days(settings.log_retention_days),
        )
        compute = BatchCompute(
            self,
            "Compute",
            environment_name=settings.name,
            settings=settings.compute,
            vpc=vpc,
            subnets=subnets,
            file_system_id=storage.file_system.file_system_id,
        )
        storage.file_system.connections.allow_default_port_from(
            compute.security_group, "NFS from the Batch instances"
        )
        steps = LambdaSteps(
            self,
            "Steps",
            bundle=bundle,
            settings=settings.functions,
            environment=StepEnvironment(
                environment_name=settings.name,
                file_system_id=storage.file_system.file_system_id,
                shared_access_point_id=storage.shared_access_point.access_point_id,
                allowed_buckets=[
                    data.bucket.bucket_name,
                    *settings.input_buckets,
                    *settings.output_buckets,
                ],
                default_job_queue=compute.default_queue_name,
                gpu_job_queue=compute.gpu_queue_name or "",
                default_job_role_arn=compute.default_job_role.role_arn,
                queue_limits=compute.queue_limits,
                mirror_outputs=settings.mirror_outputs,
                request_bucket=data.bucket.bucket_name,
                reuse_table=self._reuse_table(settings, removal_policy),
                planning=settings.planning.variables(),
            ),
            vpc=vpc,
            subnets=subnets,
            access_point=storage.functions_access_point,
            file_system=storage.file_system,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        layout = FileSystemLayout(
            self,
            "FileSystemLayout",
            storage=storage,
            vpc=vpc,
            subnets=subnets,
            security_group=steps.security_group,
            runtime=LAMBDA_RUNTIME,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        # It answers CloudFormation over HTTPS from the private subnets: routes out come first.
        layout.node.add_dependency(vpc.internet_connectivity_established)
        orchestration = Orchestration(
            self,
            "Orchestration",
            state_machine_name=settings.stack_name,
            environment=settings.name,
            functions=steps,
            job_queues=compute.queues,
            job_definitions=self._job_definitions(settings),
            map_concurrency=settings.map_concurrency,
            execution_timeout=Duration.seconds(settings.planning.execution_timeout_seconds),
            log_retention=log_retention,
            log_execution_data=settings.log_execution_data,
            removal_policy=removal_policy,
            reuse=settings.planning.reuse,
        )
        self._run_sets(settings, orchestration, data.bucket, log_retention, removal_policy)
        notifications = self._notifications(settings, steps, orchestration, log_retention)
        cache_pruning = CachePruning(
            self,
            "CachePruning",
            settings=settings.cache,
            placement=steps.placement,
            step_variables=steps.variables,
        )
        nag.accept_lambda_findings([cache_pruning.function])
        stopped = StoppedExecutionCleanup(
            self,
            "StoppedCleanup",
            environment_name=settings.name,
            state_machine=orchestration.state_machine,
            longest_step=Duration.seconds(
                max(step.timeout.to_seconds() for step in steps.all if step.timeout is not None)
            ),
            placement=steps.placement,
            step_variables=steps.variables,
        )
        nag.accept_lambda_findings([stopped.function])
        nag.accept_stopped_cleanup_findings(stopped.function)
        if settings.log_kms_key_arn is not None:
            Aspects.of(self).add(_EncryptLogGroups(settings.log_kms_key_arn))

        self._grant_data_access(settings, steps, data.bucket)
        self._grant_stored_requests(steps, data.bucket)
        self._grant_job_registration(settings, steps, compute)
        self._grant_execution_resources(settings, steps, storage, stopped.function)
        storage.allow_clients(
            jobs=[compute.default_job_role],
            job_role_arns=settings.job_role_arns,
            hosts=[compute.instance_role],
        )

        self._output(
            contract.OUTPUT_STATE_MACHINE_ARN, orchestration.state_machine.state_machine_arn
        )
        self._output(contract.OUTPUT_DATA_BUCKET_NAME, data.bucket.bucket_name)
        self._output(contract.OUTPUT_FILE_SYSTEM_ID, storage.file_system.file_system_id)
        self._output(contract.OUTPUT_JOB_QUEUE_NAME, compute.default_queue_name)
        self._output(contract.OUTPUT_ON_DEMAND_JOB_QUEUE_NAME, compute.on_demand_queue_name)
        if compute.gpu_queue_name is not None:
            self._output(contract.OUTPUT_GPU_JOB_QUEUE_NAME, compute.gpu_queue_name)
        self._output(contract.OUTPUT_DEFAULT_JOB_ROLE_ARN, compute.default_job_role.role_arn)
        self._output(contract.OUTPUT_JOB_LOG_GROUP_NAME, BATCH_JOB_LOG_GROUP)
        self._output(contract.OUTPUT_PREPARE_FUNCTION_NAME, steps.prepare.function_name)
        if notifications is not None:
            self._output(contract.OUTPUT_NOTIFICATION_TOPIC_ARN, notifications.topic.topic_arn)
        self._output(
            contract.OUTPUT_CACHE_PRUNE_FUNCTION_NAME, cache_pruning.function.function_name
        )

        Tags.of(self).add("project", "demand-executions")
        Tags.of(self).add("environment", settings.name)
        for key, value in settings.tags.items():
            Tags.of(self).add(key, value)

        nag.accept_lambda_findings([*steps.all, layout.function])
        nag.accept_bucket_grants([steps.sync])
        nag.accept_register_findings(steps.register, job_role_path=compute.job_role_path)
        nag.accept_state_machine_findings(orchestration.state_machine)
        nag.accept_execution_resource_findings(
            [steps.prepare, steps.register, steps.cleanup, stopped.function]
        )
        nag.accept_batch_instance_role(compute.instance_role)

    def _run_sets(
        self,
        settings: EnvironmentSettings,
        orchestration: Orchestration,
        data_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        run_sets = RunSets(
            self,
            "RunSets",
            state_machine_name=f"{settings.stack_name}{contract.RUN_SET_STATE_MACHINE_SUFFIX}",
            executions=orchestration.state_machine,
            data_bucket=data_bucket,
            max_concurrency=settings.run_sets.max_concurrency,
            tolerated_failure_percentage=settings.run_sets.tolerated_failure_percentage,
            log_retention=log_retention,
            log_execution_data=settings.log_execution_data,
            removal_policy=removal_policy,
        )
        nag.accept_run_set_findings(run_sets.state_machine)
        self._output(
            contract.OUTPUT_RUN_SET_STATE_MACHINE_ARN, run_sets.state_machine.state_machine_arn
        )
        self._output(
            contract.OUTPUT_RUN_SET_MAX_CONCURRENCY, str(settings.run_sets.max_concurrency)
        )
        self._output(
            contract.OUTPUT_RUN_SET_TOLERATED_FAILURE_PERCENTAGE,
            f"{settings.run_sets.tolerated_failure_percentage:g}",
        )

    def _notifications(
        self,
        settings: EnvironmentSettings,
        steps: LambdaSteps,
        orchestration: Orchestration,
        log_retention: logs.RetentionDays,
    ) -> Notifications | None:
        if not settings.notifications.enabled:
            return None
        notifications = Notifications(
            self,
            "Notifications",
            environment_name=settings.name,
            state_machine=orchestration.state_machine,
            code=steps.code,
            runtime=LAMBDA_RUNTIME,
            powertools={
                name: value
                for name, value in steps.variables.items()
                if not name.startswith(contract.VARIABLE_PREFIX)
            },
            log_retention=log_retention,
            removal_policy=self._removal_policy(settings),
        )
        nag.accept_lambda_findings([notifications.function])
        nag.accept_notification_findings(notifications.function)
        return notifications

    @staticmethod
    def _removal_policy(settings: EnvironmentSettings) -> RemovalPolicy:
        return (
            RemovalPolicy.RETAIN if settings.removal_policy == "retain" else RemovalPolicy.DESTROY
        )

    def _job_definitions(self, settings: EnvironmentSettings) -> str:
        """The job definitions the runtime registers: one per execution, ``demand-<env>_<id>``."""
        return self.format_arn(
            service="batch",
            resource="job-definition",
            resource_name=contract.execution_resource_pattern(settings.stack_name),
        )

    def _output(self, name: str, value: str) -> None:
        CfnOutput(self, name, value=value)

    def _grant_data_access(
        self, settings: EnvironmentSettings, steps: LambdaSteps, data_bucket: s3.IBucket
    ) -> None:
        """Staging is the sync step's work alone: no other step, and no job, moves the data
        (reuse's listings and server-side copies aside: :meth:`_grant_reuse`). A job that needs
        S3 itself names a job role of its own (``job_role_arns``)."""
        data_bucket.grant_read_write(steps.sync)
        for index, name in enumerate(settings.input_buckets):
            s3.Bucket.from_bucket_name(self, f"InputBucket{index}", name).grant_read(steps.sync)
        for index, name in enumerate(settings.output_buckets):
            bucket = s3.Bucket.from_bucket_name(self, f"OutputBucket{index}", name)
            bucket.grant_read_write(steps.sync)
        if self._records is not None:
            self._grant_reuse(settings, steps, data_bucket, self._records)

    def _reuse_table(self, settings: EnvironmentSettings, removal_policy: RemovalPolicy) -> str:
        """The table of reuse records, made when the environment reuses results; its name
        for the steps (empty: none)."""
        self._records = (
            ReuseRecords(self, "ReuseRecords", removal_policy=removal_policy)
            if settings.planning.reuse
            else None
        )
        return self._records.table.table_name if self._records is not None else ""

    def _grant_reuse(
        self,
        settings: EnvironmentSettings,
        steps: LambdaSteps,
        data_bucket: s3.IBucket,
        records: ReuseRecords,
    ) -> None:
        """Results reused (docs/reuse.md): Prepare lists inputs and HEADs recorded outputs
        (s3:ListBucket, s3:GetObject — it reads no body) and copies a hit's outputs server-side
        to the new destinations (s3:PutObject on the buckets outputs may go to); Cleanup lists
        inputs and outputs again to write the record. Neither may delete anything."""
        records.allow(reader=steps.prepare, writer=steps.cleanup)
        readable = [data_bucket, *self._named_buckets("Input", settings.input_buckets)]
        writable = [data_bucket, *self._named_buckets("Output", settings.output_buckets)]
        for bucket in {id(b): b for b in readable + writable}.values():
            bucket.grant_read(steps.prepare)
            bucket.grant_read(steps.cleanup)
        for bucket in writable:
            bucket.grant_put(steps.prepare)
        # A hostile request may name a stored request as an output's destination: a copy never
        # replaces one (stage-out is denied the same), and Cleanup's listings never read one.
        requests = data_bucket.arn_for_objects(f"{contract.REQUESTS_PREFIX}*")
        steps.prepare.add_to_role_policy(
            iam.PolicyStatement(
                sid="NeverCopyOntoStoredRequests",
                effect=iam.Effect.DENY,
                actions=["s3:PutObject*", "s3:DeleteObject*"],
                resources=[requests],
            )
        )
        steps.cleanup.add_to_role_policy(
            iam.PolicyStatement(
                sid="NeverReadStoredRequests",
                effect=iam.Effect.DENY,
                actions=["s3:GetObject*"],
                resources=[requests],
            )
        )
        nag.accept_bucket_grants([steps.prepare, steps.cleanup])

    def _named_buckets(self, kind: str, names: list[str]) -> list[s3.IBucket]:
        """The buckets named in the settings (the same constructs the sync grants use)."""
        found = [self.node.try_find_child(f"{kind}Bucket{index}") for index in range(len(names))]
        return [
            cast(s3.IBucket, bucket)
            if bucket is not None
            else s3.Bucket.from_bucket_name(self, f"{kind}Bucket{index}", names[index])
            for index, bucket in enumerate(found)
        ]

    def _grant_stored_requests(self, steps: LambdaSteps, data_bucket: s3.IBucket) -> None:
        """Prepare reads the requests ``demand submit`` stored (runtime.steps.stored_request,
        in the bucket ``DEMAND_REQUEST_BUCKET`` names), and nothing else of the bucket. Staging
        never touches them, so that no job's output can replace a request, nor an input read
        one."""
        requests = data_bucket.arn_for_objects(f"{contract.REQUESTS_PREFIX}*")
        steps.prepare.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadStoredRequests", actions=["s3:GetObject"], resources=[requests]
            )
        )
        steps.sync.add_to_role_policy(
            iam.PolicyStatement(
                sid="NeverStageStoredRequests",
                effect=iam.Effect.DENY,
                actions=["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*"],
                resources=[requests],
            )
        )
        nag.accept_stored_request_reads(steps.prepare, prefix=contract.REQUESTS_PREFIX)

    def _grant_job_registration(
        self, settings: EnvironmentSettings, steps: LambdaSteps, compute: BatchCompute
    ) -> None:
        job_definitions = self._job_definitions(settings)
        # Privileged containers only where the environment's planning settings ask for them.
        privileged = settings.planning.privileged
        steps.register.add_to_role_policy(
            iam.PolicyStatement(
                sid=(
                    "RegisterJobDefinitions" if privileged else "RegisterUnprivilegedJobDefinitions"
                ),
                actions=["batch:RegisterJobDefinition", "batch:TagResource"],
                resources=[job_definitions],
                conditions=None if privileged else {"BoolIfExists": {"batch:Privileged": "false"}},
            )
        )
        steps.register.add_to_role_policy(
            iam.PolicyStatement(
                sid="FindExistingJobDefinitions",
                actions=["batch:DescribeJobDefinitions"],
                resources=["*"],
            )
        )
        steps.register.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassJobRolesToBatch",
                actions=["iam:PassRole"],
                resources=[compute.job_role_arn_pattern, *settings.job_role_arns],
                conditions={
                    "StringEquals": {
                        "iam:PassedToService": ["batch.amazonaws.com", "ecs-tasks.amazonaws.com"]
                    }
                },
            )
        )

    def _grant_execution_resources(
        self,
        settings: EnvironmentSettings,
        steps: LambdaSteps,
        storage: SharedFileSystem,
        stopped_cleanup: lambda_.Function,
    ) -> None:
        """Prepare makes each execution's access points; Cleanup (and the cleanup of stopped
        executions) deletes them and deregisters the execution's job definition. Only this
        environment's, by tag and by name."""
        requested = {"StringEquals": {"aws:RequestTag/demand:environment": settings.name}}
        tagged = {"StringEquals": {"aws:ResourceTag/demand:environment": settings.name}}
        points = self.format_arn(
            service="elasticfilesystem", resource="access-point", resource_name="*"
        )
        file_system = storage.file_system.file_system_arn

        prepare, cleanup = steps.prepare, steps.cleanup

        def allow(step: lambda_.Function, sid: str, action: str, *on: str, **when: Any) -> None:
            statement = iam.PolicyStatement(
                sid=sid, actions=[_EFS + action], resources=list(on), conditions=when or None
            )
            step.add_to_role_policy(statement)

        allow(prepare, "MakeExecutionAccessPoints", "CreateAccessPoint", file_system, **requested)
        # Tagging only as part of making one: no re-tagging of any other access point.
        creating = {
            "StringEquals": {
                **requested["StringEquals"],
                "elasticfilesystem:CreateAction": "CreateAccessPoint",
            }
        }
        allow(prepare, "TagExecutionAccessPoints", "TagResource", points, **creating)
        # Register checks that a definition mounts only its execution's own access points.
        for step in (prepare, steps.register, cleanup, stopped_cleanup):
            allow(step, "FindExecutionAccessPoints", "DescribeAccessPoints", file_system, points)
        for step in (cleanup, stopped_cleanup):
            allow(step, "DeleteExecutionAccessPoints", "DeleteAccessPoint", points, **tagged)
            step.add_to_role_policy(
                iam.PolicyStatement(
                    sid="FindExecutionJobDefinitions",
                    actions=["batch:DescribeJobDefinitions"],
                    resources=["*"],
                )
            )
            step.add_to_role_policy(
                iam.PolicyStatement(
                    sid="DeregisterExecutionJobDefinitions",
                    actions=["batch:DeregisterJobDefinition"],
                    resources=[self._job_definitions(settings)],
                )
            )
