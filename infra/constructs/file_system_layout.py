"""A deploy-time step that creates the volume directories on the file system (see the handler)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.storage import (
    DIRECTORY_PERMISSIONS,
    POSIX_GID,
    POSIX_UID,
    VOLUME_PATHS,
    SharedFileSystem,
)
from runtime import contract

HANDLER_SOURCE = Path(__file__).with_name("file_system_layout_handler.py")
# Where the function mounts the file system: as the steps do; the inline handler, which can
# import nothing of this project, repeats it (tests/infra/test_contract.py checks the two agree).
MOUNT_PATH = contract.LAMBDA_EFS_MOUNT_PATH


class FileSystemLayout(Construct):
    """Custom resource: ``/scratch``, ``/shared`` and ``/tmp`` exist, owned by the jobs' user."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: SharedFileSystem,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        runtime: lambda_.Runtime,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # Root, so that it may create and hand over top-level directories; used by nothing else.
        root_access_point = storage.file_system.add_access_point(
            "LayoutAccessPoint", path="/", posix_user=efs.PosixUser(uid="0", gid="0")
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Creates the volume directories on the shared file system at deploy time",
            runtime=runtime,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_inline(HANDLER_SOURCE.read_text()),
            timeout=Duration.minutes(2),
            memory_size=128,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group],
            filesystem=lambda_.FileSystem.from_efs_access_point(root_access_point, MOUNT_PATH),
            log_group=logs.LogGroup(
                self, "Logs", retention=log_retention, removal_policy=removal_policy
            ),
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "elasticfilesystem:ClientMount",
                    "elasticfilesystem:ClientWrite",
                    "elasticfilesystem:ClientRootAccess",
                ],
                resources=[storage.file_system.file_system_arn],
                conditions={
                    "StringEquals": {
                        "elasticfilesystem:AccessPointArn": root_access_point.access_point_arn
                    }
                },
            )
        )
        resource = CustomResource(
            self,
            "Resource",
            resource_type="Custom::FileSystemLayout",
            service_token=self.function.function_arn,
            properties={
                "Directories": sorted(VOLUME_PATHS.values()),
                "Uid": str(POSIX_UID),
                "Gid": str(POSIX_GID),
                "Mode": DIRECTORY_PERMISSIONS,
            },
        )
        # The mount needs the NFS rules of both security groups in place first.
        resource.node.add_dependency(storage.security_group, security_group)
