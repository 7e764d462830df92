"""AWS Batch: managed EC2 compute environments, their job queues, and the default job role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, IResolvable, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import (
    ComputeEnvironmentSettings,
    ComputeSettings,
    EnvironmentSettingsError,
    RunnableTimeLimits,
)
from runtime import contract

ROOT_VOLUME_GIB = 50
# One queue's limits, by field of runtime.plan.configuration.QueueLimits (None: not known).
QueueLimits = dict[str, int | None]


@dataclass(frozen=True)
class _Backing:
    """A compute environment as its queues see it: the resource, its settings, GPU or not."""

    resource: batch.ManagedEc2EcsComputeEnvironment
    settings: ComputeEnvironmentSettings
    gpu: bool


def queue_limits(backing: Sequence[tuple[ComputeEnvironmentSettings, bool]]) -> QueueLimits:
    """The largest job a queue backed by these compute environments (settings, GPU or not) can
    ever place, shaped as ``runtime.contract.ENV_QUEUE_LIMITS`` has it (None: not known).

    - ``vcpus``: a job runs on one instance, and a compute environment launches instances only
      within its ``max_vcpus``: a job asking more than the largest of them never leaves RUNNABLE.
    - ``gpu``: 0 when none of the compute environments has GPUs; else not known.
    - ``memory``: not known. The instance types' own sizes would tighten all three, but they are
      not in the settings: a family or "optimal" has no one size, and an explicit size
      ("g5.xlarge") would need a table of EC2 instance types, or DescribeInstanceTypes at
      synthesis (a network call).
    """
    return {
        "vcpus": max(settings.max_vcpus for settings, _ in backing),
        "memory": None,
        "gpu": None if any(gpu for _, gpu in backing) else 0,
    }


def runnable_time_limit_actions(
    limits: RunnableTimeLimits,
) -> list[IResolvable | batch.CfnJobQueue.JobStateTimeLimitActionProperty]:
    """Cancel a job that stays RUNNABLE for a reason that means "not soon", after the time the
    settings give that reason (runtime.contract.RUNNABLE_TIME_LIMIT_REASONS), so that its
    execution fails, says why, and cleans up, instead of waiting for its own time limit."""
    return [
        batch.CfnJobQueue.JobStateTimeLimitActionProperty(
            action="CANCEL",
            max_time_seconds=int(Duration.minutes(getattr(limits, setting)).to_seconds()),
            reason=reason,
            state="RUNNABLE",
        )
        for reason, setting in contract.RUNNABLE_TIME_LIMIT_REASONS.items()
    ]


def _instance_class(family: str) -> ec2.InstanceClass:
    try:
        return ec2.InstanceClass[family.upper().replace("-", "_")]
    except KeyError:
        raise EnvironmentSettingsError(f"unknown EC2 instance family {family!r}") from None


def _instance_user_data() -> ec2.UserData:
    """ECS agent settings, and the EFS mount helper the agent uses for jobs' volumes.

    The host does not mount the file system: jobs mount their own execution's directories
    through its access points, and nothing on an instance needs the rest.
    """
    script = ec2.UserData.for_linux()
    script.add_commands(
        "cat >> /etc/ecs/ecs.config <<'ECS'",
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true",
        "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
        "ECS_ENABLE_CONTAINER_METADATA=true",
        "ECS",
        "yum install -y amazon-efs-utils",
    )
    multipart = ec2.MultipartUserData()
    multipart.add_user_data_part(script, ec2.MultipartBody.SHELL_SCRIPT, True)
    return multipart


class BatchCompute(Construct):
    """On-demand, Spot and (optionally) GPU compute environments behind three job queues.

    - the default queue prefers the Spot environment and overflows to on-demand when Spot is
      at its maximum vCPUs (only on-demand when Spot is off);
    - the on-demand queue, for jobs that must not be interrupted;
    - the GPU queue, when the GPU environment is enabled.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        settings: ComputeSettings,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        file_system_id: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._vpc = vpc
        self._subnets = subnets
        self._runnable_time_limits = settings.runnable_time_limits
        self.security_group = ec2.SecurityGroup(
            self,
            "InstanceSecurityGroup",
            vpc=vpc,
            description="AWS Batch instances: outbound only (images, AWS APIs, EFS)",
            allow_all_outbound=True,
        )
        self.instance_role = iam.Role(
            self,
            "InstanceRole",
            description="AWS Batch container instances: the ECS agent",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonEC2ContainerServiceforEC2Role"
                )
            ],
        )
        self._launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            user_data=_instance_user_data(),
            require_imdsv2=True,
            # Containers (one hop further) cannot reach the instance's credentials.
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GIB,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )

        on_demand = self._compute_environment(
            "OnDemand",
            settings.on_demand,
            spot=False,
            image=batch.EcsMachineImageType.ECS_AL2023,
            gpu=False,
        )
        spot = (
            self._compute_environment(
                "Spot",
                settings.spot,
                spot=True,
                image=batch.EcsMachineImageType.ECS_AL2023,
                gpu=False,
            )
            if settings.spot.enabled
            else None
        )
        self.compute_environments = [ce.resource for ce in (on_demand, spot) if ce is not None]

        # Names, as jobs are submitted and shown with them (the L2 name attribute is a token).
        self.default_queue_name = f"demand-{environment_name}-default"
        self.on_demand_queue_name = f"demand-{environment_name}-on-demand"
        self.gpu_queue_name: str | None = None
        # The largest job each queue can place, by queue name (what planning checks requests
        # against: runtime.contract.ENV_QUEUE_LIMITS), filled in as each queue is made.
        self.queue_limits: dict[str, QueueLimits] = {}
        self.default_queue = self._queue("DefaultQueue", self.default_queue_name, [spot, on_demand])
        self.on_demand_queue = self._queue("OnDemandQueue", self.on_demand_queue_name, [on_demand])
        self.gpu_queue: batch.JobQueue | None = None
        if settings.gpu.enabled:
            self.gpu_queue_name = f"demand-{environment_name}-gpu"
            gpu = self._compute_environment(
                "Gpu",
                settings.gpu,
                spot=settings.gpu.spot,
                image=batch.EcsMachineImageType.ECS_AL2023_NVIDIA,
                gpu=True,
            )
            self.compute_environments.append(gpu.resource)
            self.gpu_queue = self._queue("GpuQueue", self.gpu_queue_name, [gpu])
        self.queues = [q for q in (self.default_queue, self.on_demand_queue, self.gpu_queue) if q]

        self.job_role_path = f"/demand/{environment_name}/jobs/"
        self.default_job_role = iam.Role(
            self,
            "DefaultJobRole",
            description="Default role of demand execution jobs",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            path=self.job_role_path,
        )

    @property
    def job_role_arn_pattern(self) -> str:
        """Every role under this environment's job-role path."""
        return Stack.of(self).format_arn(
            service="iam",
            region="",
            resource="role",
            resource_name=f"{self.job_role_path.strip('/')}/*",
        )

    def _compute_environment(
        self,
        construct_id: str,
        settings: ComputeEnvironmentSettings,
        *,
        spot: bool,
        image: batch.EcsMachineImageType,
        gpu: bool,
    ) -> _Backing:
        resource = batch.ManagedEc2EcsComputeEnvironment(
            self,
            construct_id,
            vpc=self._vpc,
            vpc_subnets=self._subnets,
            security_groups=[self.security_group],
            instance_role=self.instance_role,
            launch_template=self._launch_template,
            images=[batch.EcsMachineImage(image_type=image)],
            # "m6i.large" is an instance type, "m6i" a family (instance class) of them.
            instance_types=[
                ec2.InstanceType(name) for name in settings.instance_types if "." in name
            ],
            instance_classes=[
                _instance_class(name)
                for name in settings.instance_types
                if "." not in name and name != "optimal"
            ],
            use_optimal_instance_classes="optimal" in settings.instance_types,
            minv_cpus=settings.min_vcpus,
            maxv_cpus=settings.max_vcpus,
            spot=spot,
            allocation_strategy=(
                batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED
                if spot
                else batch.AllocationStrategy.BEST_FIT_PROGRESSIVE
            ),
            update_to_latest_image_version=True,
        )
        return _Backing(resource=resource, settings=settings, gpu=gpu)

    def _queue(
        self,
        construct_id: str,
        name: str,
        environments: list[_Backing | None],
    ) -> batch.JobQueue:
        present = [ce for ce in environments if ce is not None]
        self.queue_limits[name] = queue_limits([(ce.settings, ce.gpu) for ce in present])
        queue = batch.JobQueue(
            self,
            construct_id,
            job_queue_name=name,
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=ce.resource, order=order)
                for order, ce in enumerate(present, start=1)
            ],
        )
        # Set on the resource itself: the L2 construct knows only three of the reasons.
        resource = queue.node.default_child
        assert isinstance(resource, batch.CfnJobQueue)
        resource.job_state_time_limit_actions = list(
            runnable_time_limit_actions(self._runnable_time_limits)
        )
        return queue
