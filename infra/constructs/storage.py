"""Storage: the shared EFS file system with its access points, and the data bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import DataBucketSettings, FileSystemSettings
from runtime import contract

# Every writer (Lambda steps and Batch jobs) acts as this POSIX user through its access point,
# so a file one writes the others can read and remove, whatever user a job's image runs as.
POSIX_UID = contract.EFS_POSIX_UID
POSIX_GID = contract.EFS_POSIX_GID
DIRECTORY_PERMISSIONS = "0755"

# Where each volume lives in the file system (runtime/volumes.py's defaults). Jobs mount their
# own directory of scratch and tmp through an access point their execution's Prepare makes;
# the shared input cache, read-only, through the one below.
VOLUME_PATHS = {"scratch": "/scratch", "shared": "/shared", "tmp": "/tmp", "control": "/control"}

_THROUGHPUT_MODES = {
    "bursting": efs.ThroughputMode.BURSTING,
    "elastic": efs.ThroughputMode.ELASTIC,
    "provisioned": efs.ThroughputMode.PROVISIONED,
}
_CLIENT_ACTIONS = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
_ACCESS_POINT = "elasticfilesystem:AccessPointArn"


def _transition_to_ia(days: int | str) -> efs.LifecyclePolicy | None:
    if not isinstance(days, int):
        return None
    return efs.LifecyclePolicy[f"AFTER_{days}_DAY{'S' if days > 1 else ''}"]


def _file_system_policy() -> iam.PolicyDocument:
    """TLS only. Who may mount and write is added by :meth:`SharedFileSystem.allow_clients`,
    naming each principal; nobody ever gets root access."""
    return iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                sid="DenyUnencryptedTransport",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["*"],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            ),
        ]
    )


class SharedFileSystem(Construct):
    """Encrypted EFS with one access point per volume and one, rooted at ``/``, for the Lambdas.

    The Lambdas see the whole file system (``/scratch/x`` is at ``<mount>/scratch/x``); jobs see
    each volume through its own access point.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        settings: FileSystemSettings,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="EFS mount targets: NFS from the Batch instances and the Lambda steps",
            allow_all_outbound=False,
        )
        provisioned = settings.provisioned_throughput_mibps
        self.file_system = efs.FileSystem(
            self,
            "FileSystem",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=self.security_group,
            encrypted=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=_THROUGHPUT_MODES[settings.throughput_mode],
            provisioned_throughput_per_second=(
                Size.mebibytes(provisioned) if provisioned is not None else None
            ),
            lifecycle_policy=_transition_to_ia(settings.transition_to_ia_days),
            out_of_infrequent_access_policy=(
                efs.OutOfInfrequentAccessPolicy.AFTER_1_ACCESS
                if settings.transition_to_ia_days != "never"
                else None
            ),
            enable_automatic_backups=settings.backups,
            removal_policy=removal_policy,
            # CDK's name for "add no grant of its own": False would add write and root access
            # for any principal. Anonymous (non-IAM) mounts are refused all the same, because
            # the policy exists and grants only the principals it names (allow_clients).
            allow_anonymous_access=True,
            file_system_policy=_file_system_policy(),
        )
        posix_user = efs.PosixUser(uid=str(POSIX_UID), gid=str(POSIX_GID))
        self.shared_access_point = self.file_system.add_access_point(
            "SharedAccessPoint",
            path=VOLUME_PATHS["shared"],
            posix_user=posix_user,
            create_acl=efs.Acl(
                owner_uid=str(POSIX_UID),
                owner_gid=str(POSIX_GID),
                permissions=DIRECTORY_PERMISSIONS,
            ),
        )
        self.functions_access_point = self.file_system.add_access_point(
            "FunctionsAccessPoint", path="/", posix_user=posix_user
        )

    def allow_clients(
        self,
        *,
        jobs: list[iam.IRole],
        job_role_arns: list[str],
        hosts: list[iam.IRole],
    ) -> None:
        """Who may mount and write, by name: the job roles, in the file system's policy. (The
        steps get theirs from their own roles, through their access point: the policy cannot
        name their roles, which wait for the mount targets, which wait for the file system.)

        Jobs (their roles, and the Batch instance role) mount and write only through their
        execution's own access points: never through the steps' (rooted at ``/``), and only
        read through the shared cache's. Only through a mount target, which the security group
        admits only from the steps and the Batch instances.
        """
        through_mount_target = {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}
        self.file_system.add_to_resource_policy(
            iam.PolicyStatement(
                sid="JobsMountThroughMountTargets",
                principals=[
                    *(iam.ArnPrincipal(role.role_arn) for role in jobs),
                    *(iam.ArnPrincipal(arn) for arn in job_role_arns),
                ],
                actions=_CLIENT_ACTIONS,
                resources=["*"],
                conditions=through_mount_target,
            )
        )
        self.file_system.add_to_resource_policy(
            iam.PolicyStatement(
                # Without an access point a client names its own directory and POSIX user: the
                # whole file system. Jobs and instances always go through one.
                sid="JobsAndInstancesOnlyThroughAccessPoints",
                effect=iam.Effect.DENY,
                principals=[
                    *(iam.ArnPrincipal(role.role_arn) for role in [*jobs, *hosts]),
                    *(iam.ArnPrincipal(arn) for arn in job_role_arns),
                ],
                actions=_CLIENT_ACTIONS,
                resources=["*"],
                conditions={"Null": {_ACCESS_POINT: "true"}},
            )
        )
        # Identity policies, not the file system's: its policy cannot name its own access
        # points (a circular dependency). Job roles given by ARN get this from their owners.
        for role in [*jobs, *hosts]:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="NeverThroughTheStepsAccessPoint",
                    effect=iam.Effect.DENY,
                    actions=_CLIENT_ACTIONS,
                    resources=[self.file_system.file_system_arn],
                    conditions={
                        "StringEquals": {
                            _ACCESS_POINT: self.functions_access_point.access_point_arn
                        }
                    },
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="OnlyReadTheSharedCache",
                    effect=iam.Effect.DENY,
                    actions=["elasticfilesystem:ClientWrite"],
                    resources=[self.file_system.file_system_arn],
                    conditions={
                        "StringEquals": {_ACCESS_POINT: self.shared_access_point.access_point_arn}
                    },
                )
            )


class DataBucket(Construct):
    """The environment's default bucket for inputs and outputs: made here, or an existing one.

    It also holds the requests too large to start an execution with inline, under
    ``requests/``; a bucket made here expires them (an existing one needs a rule of its own:
    docs/deploy.md)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DataBucketSettings,
        removal_policy: RemovalPolicy,
        access_log_retention: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        if settings.name is not None:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "Bucket", settings.name)
            return

        auto_delete = removal_policy == RemovalPolicy.DESTROY
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=access_log_retention,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )
        lifecycle_rules = [
            s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(7)),
            # The requests `demand submit` stored (runtime.cloud.requests): needed only until
            # their execution's Prepare has read them, and kept however the execution ends.
            s3.LifecycleRule(
                id="ExpireStoredRequests",
                prefix=contract.REQUESTS_PREFIX,
                expiration=Duration.days(contract.REQUEST_RETENTION_DAYS),
            ),
        ]
        if settings.versioned:
            lifecycle_rules.append(
                s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))
            )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=settings.versioned,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="data-bucket/",
            lifecycle_rules=lifecycle_rules,
            removal_policy=removal_policy,
            auto_delete_objects=auto_delete,
        )
