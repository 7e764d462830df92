"""Fine-grained assertions on what matters in each environment's resources."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from runtime import contract
from runtime.cloud.stack import REQUIRED_OUTPUTS
from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources

STEP_HANDLERS = {
    "prepare": "runtime.handlers.prepare.handler",
    "register": "runtime.handlers.register.handler",
    "sync": "runtime.handlers.sync.handler",
    "cleanup": "runtime.handlers.cleanup.handler",
}
CONTRACT_VARIABLES = {
    contract.ENV_ENVIRONMENT,
    contract.ENV_FILE_SYSTEM_ID,
    contract.ENV_SHARED_ACCESS_POINT_ID,
    contract.ENV_USE_TMP_VOLUME,
    contract.ENV_ALLOWED_BUCKETS,
    contract.ENV_EFS_MOUNT_PATH,
    contract.ENV_MIRROR_OUTPUTS,
    contract.ENV_REQUEST_BUCKET,
    contract.ENV_DEFAULT_JOB_QUEUE,
    contract.ENV_GPU_JOB_QUEUE,
    contract.ENV_DEFAULT_JOB_ROLE_ARN,
    contract.ENV_QUEUE_LIMITS,
    contract.ENV_POWERTOOLS_SERVICE_NAME,
    contract.ENV_POWERTOOLS_LOG_LEVEL,
    # The planning settings (infra.config.PlanningSettings).
    contract.ENV_ISOLATE_INPUTS,
    contract.ENV_CLEANUP_INPUTS,
    contract.ENV_CLEANUP_WORKING_DIR,
    contract.ENV_KEEP_WORKING_DIR_ON_FAILURE,
    contract.ENV_ENV_FILE_MODE,
    contract.ENV_ENV_SIZE_LIMIT,
    contract.ENV_PRIVILEGED,
    contract.ENV_RETRY_ATTEMPTS,
    contract.ENV_TIMEOUT_SECONDS,
    contract.ENV_JOB_TAGS,
    contract.ENV_REUSE,
    contract.ENV_REUSE_TTL_DAYS,
    contract.ENV_REUSE_TABLE,
    contract.ENV_MAX_TIMEOUT_SECONDS,
    contract.ENV_MAX_RETRY_ATTEMPTS,
    contract.ENV_REQUESTS_MAY_ISOLATE_INPUTS,
    contract.ENV_REQUESTS_MAY_KEEP_WORKING_DIR,
}


def _template(synthesis: Synthesis, environment: str) -> Template:
    return Template.from_json(synthesis.templates[environment])


def _step_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        step: function
        for function in resources(template, "AWS::Lambda::Function").values()
        for step, handler in STEP_HANDLERS.items()
        if function["Properties"].get("Handler") == handler
    }


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_file_system_is_encrypted_and_tls_only(synthesis: Synthesis, environment: str) -> None:
    (file_system,) = resources(synthesis.templates[environment], "AWS::EFS::FileSystem").values()
    properties = file_system["Properties"]
    assert properties["Encrypted"] is True
    statements = properties["FileSystemPolicy"]["Statement"]
    assert {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Sid": "DenyUnencryptedTransport",
    } in statements
    granted = {
        action
        for s in statements
        if s["Effect"] == "Allow"
        for a in [s["Action"]]
        for action in _as_list(a)
    }
    assert "elasticfilesystem:ClientRootAccess" not in granted


def test_file_system_settings_per_environment(synthesis: Synthesis) -> None:
    dev = _template(synthesis, "dev")
    dev.has_resource_properties(
        "AWS::EFS::FileSystem",
        {
            "ThroughputMode": "elastic",
            "LifecyclePolicies": [
                {"TransitionToIA": "AFTER_7_DAYS"},
                {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"},
            ],
            "BackupPolicy": Match.absent(),
        },
    )
    dev.has_resource("AWS::EFS::FileSystem", {"DeletionPolicy": "Delete"})
    prod = _template(synthesis, "prod")
    prod.has_resource_properties("AWS::EFS::FileSystem", {"BackupPolicy": {"Status": "ENABLED"}})
    prod.has_resource("AWS::EFS::FileSystem", {"DeletionPolicy": "Retain"})
    _template(synthesis, "imported").has_resource_properties(
        "AWS::EFS::FileSystem",
        {
            "ThroughputMode": "provisioned",
            "ProvisionedThroughputInMibps": 64,
            "LifecyclePolicies": Match.absent(),
        },
    )


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_access_points_share_one_posix_user(synthesis: Synthesis, environment: str) -> None:
    access_points = resources(synthesis.templates[environment], "AWS::EFS::AccessPoint")
    by_path: dict[str, list[dict[str, Any]]] = {}
    for access_point in access_points.values():
        properties = access_point["Properties"]
        by_path.setdefault(properties["RootDirectory"].get("Path", "/"), []).append(properties)
    # Jobs mount their own dirs of scratch and tmp through access points their execution's
    # Prepare makes: the stack has one only for the shared cache.
    assert sorted(by_path) == ["/", "/shared"]
    for path in ("/shared",):
        (volume,) = by_path[path]
        assert volume["PosixUser"] == {"Uid": "1000", "Gid": "1000"}
        assert volume["RootDirectory"]["CreationInfo"] == {
            "OwnerUid": "1000",
            "OwnerGid": "1000",
            "Permissions": "0755",
        }
    # One for the Lambda steps as the jobs' user; one (root) for the deploy-time layout only.
    users = sorted(point["PosixUser"]["Uid"] for point in by_path["/"])
    assert users == ["0", "1000"]


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_file_system_admits_only_batch_instances_and_lambdas(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    (mount_target, *_) = resources(template, "AWS::EFS::MountTarget").values()
    (security_group,) = mount_target["Properties"]["SecurityGroups"]
    efs_group = security_group["Fn::GetAtt"][0]
    ingress = [
        rule["Properties"]
        for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"]["Fn::GetAtt"][0] == efs_group
    ]
    sources = sorted(rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in ingress)
    assert len(sources) == 2
    assert sources[0].startswith("ComputeInstanceSecurityGroup")
    assert sources[1].startswith("StepsSecurityGroup")
    assert {(rule["FromPort"], rule["ToPort"]) for rule in ingress} == {(2049, 2049)}
    efs_group_properties = template["Resources"][efs_group]["Properties"]
    assert "SecurityGroupIngress" not in efs_group_properties


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_no_privileged_job_definitions_anywhere(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    for definition in resources(template, "AWS::Batch::JobDefinition").values():
        assert not json.dumps(definition).count('"Privileged": true')
    # Job definitions are registered at run time: IAM allows only unprivileged ones.
    (register,) = [
        s for s in _statements(template) if s.get("Sid") == "RegisterUnprivilegedJobDefinitions"
    ]
    assert register["Condition"] == {"BoolIfExists": {"batch:Privileged": "false"}}


def test_compute_environments_per_environment(synthesis: Synthesis) -> None:
    def kinds(environment: str) -> list[tuple[str, str, int]]:
        environments = resources(synthesis.templates[environment], "AWS::Batch::ComputeEnvironment")
        return sorted(
            (
                ce["Properties"]["ComputeResources"]["Type"],
                ce["Properties"]["ComputeResources"]["AllocationStrategy"],
                ce["Properties"]["ComputeResources"]["MaxvCpus"],
            )
            for ce in environments.values()
        )

    assert kinds("dev") == [
        ("EC2", "BEST_FIT_PROGRESSIVE", 64),
        ("SPOT", "SPOT_PRICE_CAPACITY_OPTIMIZED", 128),
    ]
    assert kinds("prod") == [
        ("EC2", "BEST_FIT_PROGRESSIVE", 192),
        ("EC2", "BEST_FIT_PROGRESSIVE", 256),
        ("SPOT", "SPOT_PRICE_CAPACITY_OPTIMIZED", 1024),
    ]
    assert kinds("imported") == [
        ("EC2", "BEST_FIT_PROGRESSIVE", 16),
        ("SPOT", "SPOT_PRICE_CAPACITY_OPTIMIZED", 8),
    ]


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_compute_environments_are_managed_and_scale_to_zero(
    synthesis: Synthesis, environment: str
) -> None:
    for ce in resources(
        synthesis.templates[environment], "AWS::Batch::ComputeEnvironment"
    ).values():
        properties = ce["Properties"]
        assert properties["Type"] == "managed"
        assert properties["ComputeResources"]["MinvCpus"] == 0
        assert "LaunchTemplate" in properties["ComputeResources"]


def test_queues_prefer_spot_then_on_demand(synthesis: Synthesis) -> None:
    template = synthesis.templates["dev"]
    queues = {
        q["Properties"]["JobQueueName"]: q["Properties"]
        for q in resources(template, "AWS::Batch::JobQueue").values()
    }
    assert sorted(queues) == ["demand-dev-default", "demand-dev-on-demand"]
    default = queues["demand-dev-default"]["ComputeEnvironmentOrder"]
    ordered = sorted(default, key=lambda entry: entry["Order"])
    spot_first = [
        template["Resources"][entry["ComputeEnvironment"]["Fn::GetAtt"][0]]["Properties"][
            "ComputeResources"
        ]["Type"]
        for entry in ordered
    ]
    assert spot_first == ["SPOT", "EC2"]
    prod_queues = {
        q["Properties"]["JobQueueName"]
        for q in resources(synthesis.templates["prod"], "AWS::Batch::JobQueue").values()
    }
    assert prod_queues == {"demand-prod-default", "demand-prod-on-demand", "demand-prod-gpu"}


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_launch_template_requires_imdsv2_and_mounts_no_file_system(
    synthesis: Synthesis, environment: str
) -> None:
    (launch_template,) = resources(
        synthesis.templates[environment], "AWS::EC2::LaunchTemplate"
    ).values()
    data = launch_template["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    user_data = json.dumps(data["UserData"])
    assert "amazon-efs-utils" in user_data
    # Jobs mount their own execution's directories; the host mounts nothing of the file system.
    assert "/etc/fstab" not in user_data
    assert "mount " not in user_data


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_lambda_steps(synthesis: Synthesis, environment: str) -> None:
    steps = _step_functions(synthesis.templates[environment])
    assert sorted(steps) == sorted(STEP_HANDLERS)
    for step, function in steps.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.14"
        assert properties["Architectures"] == ["arm64"]
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert "VpcConfig" in properties
        assert set(properties["Environment"]["Variables"]) == CONTRACT_VARIABLES
        mounts = properties.get("FileSystemConfigs", [])
        if step == "register":
            assert mounts == []
        else:
            assert [mount["LocalMountPath"] for mount in mounts] == [contract.LAMBDA_EFS_MOUNT_PATH]
    assert steps["sync"]["Properties"]["Timeout"] == 900


def test_step_environment_values(synthesis: Synthesis) -> None:
    dev = _step_functions(synthesis.templates["dev"])["sync"]["Properties"]
    variables = dev["Environment"]["Variables"]
    assert variables[contract.ENV_ENVIRONMENT] == "dev"
    assert variables[contract.ENV_EFS_MOUNT_PATH] == contract.LAMBDA_EFS_MOUNT_PATH
    assert variables[contract.ENV_DEFAULT_JOB_QUEUE] == "demand-dev-default"
    assert variables[contract.ENV_GPU_JOB_QUEUE] == ""
    assert variables[contract.ENV_POWERTOOLS_LOG_LEVEL] == "DEBUG"
    prod = _step_functions(synthesis.templates["prod"])["sync"]["Properties"]
    assert prod["Environment"]["Variables"][contract.ENV_GPU_JOB_QUEUE] == "demand-prod-gpu"
    assert prod["MemorySize"] == 3008


def _queue_limits(template: dict[str, Any]) -> dict[str, Any]:
    """The limits every step function is told, the same on each."""
    (value,) = {
        function["Properties"]["Environment"]["Variables"][contract.ENV_QUEUE_LIMITS]
        for function in _step_functions(template).values()
    }
    limits: dict[str, Any] = json.loads(value)
    return limits


def test_the_steps_know_each_queues_limits(synthesis: Synthesis) -> None:
    # dev: the default queue is Spot (128 vCPUs at most) then on-demand (64); no GPU anywhere.
    assert _queue_limits(synthesis.templates["dev"]) == {
        "demand-dev-default": {"vcpus": 128, "memory": None, "gpu": 0},
        "demand-dev-on-demand": {"vcpus": 64, "memory": None, "gpu": 0},
    }
    # A GPU queue's GPU count is not known from instance families: not checked.
    assert _queue_limits(synthesis.templates["prod"]) == {
        "demand-prod-default": {"vcpus": 1024, "memory": None, "gpu": 0},
        "demand-prod-on-demand": {"vcpus": 256, "memory": None, "gpu": 0},
        "demand-prod-gpu": {"vcpus": 192, "memory": None, "gpu": None},
    }
    # No Spot: the default queue is on-demand alone. An explicit size (g5.xlarge) adds nothing:
    # knowing its size would take a table of instance types.
    assert _queue_limits(synthesis.templates["imported"]) == {
        "demand-imported-default": {"vcpus": 16, "memory": None, "gpu": 0},
        "demand-imported-on-demand": {"vcpus": 16, "memory": None, "gpu": 0},
        "demand-imported-gpu": {"vcpus": 8, "memory": None, "gpu": None},
    }


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_queue_limits_are_those_of_the_queues_compute_environments(
    synthesis: Synthesis, environment: str
) -> None:
    """Each queue of the template, and only those: the largest MaxvCpus among its compute
    environments, and no GPU unless one of them runs the NVIDIA image."""
    template = synthesis.templates[environment]
    expected = {}
    for queue in resources(template, "AWS::Batch::JobQueue").values():
        backing = [
            template["Resources"][entry["ComputeEnvironment"]["Fn::GetAtt"][0]]["Properties"][
                "ComputeResources"
            ]
            for entry in queue["Properties"]["ComputeEnvironmentOrder"]
        ]
        gpu = any(
            config["ImageType"] == "ECS_AL2023_NVIDIA"
            for ce in backing
            for config in ce["Ec2Configuration"]
        )
        expected[queue["Properties"]["JobQueueName"]] = {
            "vcpus": max(ce["MaxvCpus"] for ce in backing),
            "memory": None,
            "gpu": None if gpu else 0,
        }
    assert _queue_limits(template) == expected


def test_pass_role_is_limited_to_job_roles_and_batch(synthesis: Synthesis) -> None:
    statements = _statements(synthesis.templates["imported"])
    (pass_role,) = [s for s in statements if s.get("Sid") == "PassJobRolesToBatch"]
    assert pass_role["Action"] == "iam:PassRole"
    assert pass_role["Resource"] == [
        "arn:aws:iam::123456789012:role/demand/imported/jobs/*",
        "arn:aws:iam::123456789012:role/team/analysis-job",
    ]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["batch.amazonaws.com", "ecs-tasks.amazonaws.com"]}
    }
    roles = resources(synthesis.templates["imported"], "AWS::IAM::Role")
    job_roles = [
        r for r in roles.values() if r["Properties"].get("Path") == "/demand/imported/jobs/"
    ]
    assert len(job_roles) == 1


def test_sync_reads_input_buckets_and_writes_output_buckets(synthesis: Synthesis) -> None:
    template = synthesis.templates["imported"]
    sync_role = _step_functions(template)["sync"]["Properties"]["Role"]["Fn::GetAtt"][0]
    sync_statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": sync_role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    text = json.dumps(sync_statements)
    for bucket in ("existing-demand-data", "reference-genomes", "shared-results"):
        assert f"arn:aws:s3:::{bucket}/*" in text
    writes = [s for s in sync_statements if "s3:PutObject" in _as_list(s["Action"])]
    written = json.dumps(writes)
    assert "shared-results" in written
    assert "existing-demand-data" in written
    assert "reference-genomes" not in written


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_no_wildcard_resource_beyond_the_accepted_actions(
    synthesis: Synthesis, environment: str
) -> None:
    unscoped = {
        action
        for statement in _statements(synthesis.templates[environment])
        if statement["Effect"] == "Allow" and statement["Resource"] == "*"
        for action in _as_list(statement["Action"])
    }
    assert unscoped <= {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "elasticfilesystem:ClientMount",  # conditioned on the access point (CDK)
        "batch:DescribeJobDefinitions",
        "batch:DescribeJobs",
        "batch:ListJobs",  # the cleanup of stopped executions finds their jobs by name
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }


def test_created_data_bucket_is_private_and_tls_only(synthesis: Synthesis) -> None:
    template = _template(synthesis, "prod")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": Match.any_value(),
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    assert not resources(synthesis.templates["imported"], "AWS::S3::Bucket")


def test_new_vpc_has_s3_endpoint_and_flow_logs(synthesis: Synthesis) -> None:
    dev = _template(synthesis, "dev")
    dev.resource_count_is("AWS::EC2::NatGateway", 1)
    dev.resource_count_is("AWS::EC2::FlowLog", 1)
    dev.has_resource_properties(
        "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway", "ServiceName": Match.any_value()}
    )
    dev.resource_count_is("AWS::EC2::VPCEndpoint", 1)  # no interface endpoints in dev
    prod = _template(synthesis, "prod")
    prod.resource_count_is("AWS::EC2::NatGateway", 2)
    prod.resource_count_is("AWS::EC2::VPCEndpoint", 4)  # S3 gateway + three interface
    _template(synthesis, "imported").resource_count_is("AWS::EC2::VPC", 0)


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_outputs_the_cli_reads(synthesis: Synthesis, environment: str) -> None:
    outputs = synthesis.templates[environment]["Outputs"]
    assert set(REQUIRED_OUTPUTS) <= set(outputs)
    assert outputs[contract.OUTPUT_JOB_LOG_GROUP_NAME]["Value"] == "/aws/batch/job"
    assert outputs[contract.OUTPUT_JOB_QUEUE_NAME]["Value"] == f"demand-{environment}-default"
    # demand plan --env reads the Prepare function's settings.
    prepare = next(
        logical_id
        for logical_id, function in resources(
            synthesis.templates[environment], "AWS::Lambda::Function"
        ).items()
        if function["Properties"].get("Handler") == STEP_HANDLERS["prepare"]
    )
    assert outputs[contract.OUTPUT_PREPARE_FUNCTION_NAME]["Value"] == {"Ref": prepare}


def test_stack_names_and_removal(synthesis: Synthesis) -> None:
    assert {stack.stack_name for stack in synthesis.stacks.values()} == {
        "demand-dev",
        "demand-prod",
        "demand-imported",
    }
    assert synthesis.stacks["prod"].termination_protection is True
    assert synthesis.stacks["dev"].termination_protection is False


def test_file_system_layout_runs_at_deploy(synthesis: Synthesis) -> None:
    _template(synthesis, "dev").has_resource_properties(
        "Custom::FileSystemLayout",
        {
            "Directories": ["/control", "/scratch", "/shared", "/tmp"],
            "Uid": "1000",
            "Gid": "1000",
            "Mode": "0755",
        },
    )


def _role_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _role_of(function: dict[str, Any]) -> str:
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_only_the_sync_step_touches_the_data(synthesis: Synthesis, environment: str) -> None:
    """No job role, and no step but sync, has any S3 right: staging is the sync step's work.
    (Prepare reads stored requests, and only those: tests/infra/test_stored_requests.py.)
    Reuse aside (docs/reuse.md): Prepare and Cleanup list and HEAD, Prepare copies a reused
    result's objects (puts); neither may delete."""
    template = synthesis.templates[environment]
    steps = _step_functions(template)
    roles = resources(template, "AWS::IAM::Role")
    (job_role,) = [
        logical
        for logical, role in roles.items()
        if role["Properties"].get("Path") == f"/demand/{environment}/jobs/"
    ]
    reading = {"s3:GetBucket*", "s3:GetObject*", "s3:List*"}
    allowed = {
        job_role: set(),
        _role_of(steps["register"]): set(),
        _role_of(steps["cleanup"]): reading,
        _role_of(steps["prepare"]): reading
        | {
            "s3:PutObject",
            "s3:PutObjectLegalHold",
            "s3:PutObjectRetention",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
            "s3:Abort*",
        },
    }
    for holder, rights in allowed.items():
        actions = {
            action
            for statement in _role_statements(template, holder)
            if statement.get("Sid") != "ReadStoredRequests" and statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"])
        }
        assert {a for a in actions if a.startswith("s3:")} <= rights, holder
        assert not {a for a in actions if a.startswith("s3:Delete")}, holder
    sync_actions = json.dumps(_role_statements(template, _role_of(steps["sync"])))
    assert "s3:PutObject" in sync_actions


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_file_system_policy_names_its_principals(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    (file_system,) = resources(template, "AWS::EFS::FileSystem").values()
    statements = file_system["Properties"]["FileSystemPolicy"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows
    for statement in allows:
        assert statement["Principal"] != {"AWS": "*"}
        assert statement["Principal"] != "*"
        assert "elasticfilesystem:ClientRootAccess" not in _as_list(statement["Action"])
        assert statement["Condition"] == {
            "Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}
        }
    principals = json.dumps([s["Principal"] for s in allows])
    assert "DefaultJobRole" in principals
    # Without an access point a client picks its own root: jobs and instances never may.
    (bare,) = [s for s in statements if s.get("Sid") == "JobsAndInstancesOnlyThroughAccessPoints"]
    assert bare["Effect"] == "Deny"
    assert bare["Condition"] == {"Null": {"elasticfilesystem:AccessPointArn": "true"}}
    denied = json.dumps(bare["Principal"])
    assert "DefaultJobRole" in denied
    assert "InstanceRole" in denied
    if environment == "imported":
        assert "arn:aws:iam::123456789012:role/team/analysis-job" in principals


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_jobs_never_mount_through_the_steps_access_point(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    roles = resources(template, "AWS::IAM::Role")
    job_roles = [
        logical
        for logical, role in roles.items()
        if role["Properties"].get("Path") == f"/demand/{environment}/jobs/"
        or "InstanceRole" in logical
    ]
    assert len(job_roles) == 2
    for role in job_roles:
        denies = {
            s.get("Sid"): s for s in _role_statements(template, role) if s["Effect"] == "Deny"
        }
        assert set(denies) >= {"NeverThroughTheStepsAccessPoint", "OnlyReadTheSharedCache"}
        assert _as_list(denies["OnlyReadTheSharedCache"]["Action"]) == [
            "elasticfilesystem:ClientWrite"
        ]


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_execution_access_points_and_definitions_are_the_environments_own(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    steps = _step_functions(template)
    prepare = {s.get("Sid"): s for s in _role_statements(template, _role_of(steps["prepare"]))}
    cleanup = {s.get("Sid"): s for s in _role_statements(template, _role_of(steps["cleanup"]))}
    tag = {"demand:environment": environment}
    assert prepare["MakeExecutionAccessPoints"]["Condition"] == {
        "StringEquals": {f"aws:RequestTag/{k}": v for k, v in tag.items()}
    }
    assert cleanup["DeleteExecutionAccessPoints"]["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{k}": v for k, v in tag.items()}
    }
    deregister = json.dumps(cleanup["DeregisterExecutionJobDefinitions"]["Resource"])
    assert f"job-definition/demand-{environment}_*" in deregister
    assert "DeleteExecutionAccessPoints" not in prepare
    assert "MakeExecutionAccessPoints" not in cleanup


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_jobs_are_stopped_only_in_their_own_environment(
    synthesis: Synthesis, environment: str
) -> None:
    # The state machine's (stopping a .sync job) and the cleanup of stopped executions'.
    terminating = [
        s
        for s in _statements(synthesis.templates[environment])
        if "batch:TerminateJob" in _as_list(s["Action"])
    ]
    assert sorted(s["Sid"] for s in terminating) == ["StopExecutionJobs", "StopOwnJobs"]
    for terminate in terminating:
        assert terminate["Condition"] == {
            "StringEquals": {"aws:ResourceTag/demand:environment": environment}
        }
        assert "job/*" in json.dumps(terminate["Resource"])


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_bucket_the_stack_owns_aborts_incomplete_uploads(
    synthesis: Synthesis, environment: str
) -> None:
    for bucket in resources(synthesis.templates[environment], "AWS::S3::Bucket").values():
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)


def test_log_groups_use_the_environments_key(synthesis: Synthesis) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    groups = resources(synthesis.templates["imported"], "AWS::Logs::LogGroup").values()
    assert groups
    assert {group["Properties"].get("KmsKeyId") for group in groups} == {key}
    dev = resources(synthesis.templates["dev"], "AWS::Logs::LogGroup").values()
    assert all("KmsKeyId" not in group["Properties"] for group in dev)
