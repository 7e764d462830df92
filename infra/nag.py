"""The cdk-nag (AwsSolutions) findings this project accepts, each with the reason it is accepted.

Every suppression names the rule, the exact finding (``applies_to``) and the construct it is
accepted on, so that a new wildcard or managed policy anywhere else still fails the synth.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

_MANAGED = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"

_LAMBDA_MANAGED_POLICIES = NagPackSuppression(
    id="AwsSolutions-IAM4",
    reason=(
        "CDK attaches AWSLambdaBasicExecutionRole (write to the function's own log group) and, "
        "for functions in a VPC, AWSLambdaVPCAccessExecutionRole (manage the function's network "
        "interfaces); these are the AWS-maintained minimum for a VPC Lambda."
    ),
    applies_to=[
        f"{_MANAGED}AWSLambdaBasicExecutionRole",
        f"{_MANAGED}AWSLambdaVPCAccessExecutionRole",
    ],
)
_LAMBDA_UNSCOPED_ACTIONS = NagPackSuppression(
    id="AwsSolutions-IAM5",
    reason=(
        "Resource '*' only for actions without resource-level permissions: X-Ray "
        "PutTraceSegments/PutTelemetryRecords (active tracing), batch:DescribeJobDefinitions, "
        "batch:ListJobs, and elasticfilesystem:ClientMount, which CDK conditions on the "
        "function's access point ARN (elasticfilesystem:AccessPointArn)."
    ),
    applies_to=["Resource::*"],
)
_BUCKET_GRANTS = NagPackSuppression(
    id="AwsSolutions-IAM5",
    reason=(
        "CDK's bucket grants (grant_read / grant_read_write): action groups such as "
        "s3:GetObject* and s3:List* on the named buckets and their objects (<bucket>/*) only; "
        "which keys a step or job touches is decided per execution, at run time."
    ),
    applies_to=[
        "Action::s3:Abort*",
        "Action::s3:DeleteObject*",
        "Action::s3:GetBucket*",
        "Action::s3:GetObject*",
        "Action::s3:List*",
        RegexAppliesTo(regex="/^Resource::<[A-Za-z0-9]+\\.Arn>\\/\\*$/"),
        RegexAppliesTo(
            regex="/^Resource::arn:(aws[a-z-]*|<AWS::Partition>):s3:::[a-z0-9.-]+\\/\\*$/"
        ),
    ],
)


def _suppress(constructs: Iterable[IConstruct], suppressions: Sequence[NagPackSuppression]) -> None:
    NagSuppressions.add_resource_suppressions(
        list(constructs), list(suppressions), apply_to_children=True
    )


def accept_lambda_findings(functions: Iterable[lambda_.Function]) -> None:
    """Every function: the managed execution policies and the unscoped X-Ray/EFS actions."""
    roles = [function.role for function in functions if function.role is not None]
    _suppress(roles, [_LAMBDA_MANAGED_POLICIES, _LAMBDA_UNSCOPED_ACTIONS])


def accept_bucket_grants(grantees: Iterable[iam.IGrantable]) -> None:
    roles = [grantee.grant_principal for grantee in grantees]
    _suppress([role for role in roles if isinstance(role, iam.Role)], [_BUCKET_GRANTS])


def accept_stored_request_reads(prepare: lambda_.Function, *, prefix: str) -> None:
    """Prepare reads each execution's stored request, whose key is known at run time only."""
    if prepare.role is None:
        return
    objects = prefix.replace("/", "\\/") + "\\*"
    _suppress(
        [prepare.role],
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    f"s3:GetObject on the data bucket's {prefix} prefix only: each execution's "
                    f"stored request is {prefix}<execution id>.json, and Prepare reads only its "
                    "own execution's (the key is derived from the execution's name)."
                ),
                applies_to=[
                    RegexAppliesTo(regex=f"/^Resource::<[A-Za-z0-9]+\\.Arn>\\/{objects}$/"),
                    RegexAppliesTo(
                        regex=(
                            "/^Resource::arn:(aws[a-z-]*|<AWS::Partition>):s3:::[a-z0-9.-]+"
                            f"\\/{objects}$/"
                        )
                    ),
                ],
            )
        ],
    )


def accept_register_findings(register: lambda_.Function, *, job_role_path: str) -> None:
    if register.role is None:
        return
    _suppress(
        [register.role],
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Job definitions are registered at run time under content-hashed names with "
                    "this environment's prefix (demand-<env>_*); registration is also limited to "
                    "unprivileged definitions (batch:Privileged). iam:PassRole is limited to the "
                    f"roles under {job_role_path} (plus any listed in job_role_arns) and to Batch."
                ),
                applies_to=[
                    RegexAppliesTo(
                        regex="/^Resource::arn:.*:batch:.*:job-definition\\/demand-.*\\*$/"
                    ),
                    RegexAppliesTo(
                        regex="/^Resource::arn:.*:iam::.*:role\\/demand\\/.*\\/jobs\\/\\*$/"
                    ),
                ],
            )
        ],
    )


def accept_state_machine_findings(state_machine: sfn.StateMachine) -> None:
    _suppress(
        [state_machine.role],
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Resource '*' only where the API has no resource-level permissions: X-Ray "
                    "tracing, CloudWatch Logs delivery (vended logs), and batch:DescribeJobs, "
                    "which the batch:submitJob.sync integration calls to follow the job "
                    "(batch:TerminateJob is on job/* and only for this environment's tag)."
                ),
                applies_to=["Resource::*"],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Lambda invocation on the step functions' ARNs and their versions/aliases "
                    "(<function ARN>:*), as CDK's LambdaInvoke grants it."
                ),
                applies_to=[RegexAppliesTo(regex="/^Resource::<.*\\.Arn>:\\*$/")],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Jobs are submitted with job definitions registered at run time under this "
                    "environment's prefix (demand-<env>_*), and tagged as they are submitted "
                    "(job/*: job ids are not known before submission)."
                ),
                applies_to=[
                    RegexAppliesTo(
                        regex="/^Resource::arn:.*:batch:.*:job-definition\\/demand-.*\\*$/"
                    ),
                    RegexAppliesTo(regex="/^Resource::arn:.*:batch:.*:job\\/\\*$/"),
                ],
            ),
        ],
    )


def accept_batch_instance_role(instance_role: iam.Role) -> None:
    _suppress(
        [instance_role],
        [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason=(
                    "AmazonEC2ContainerServiceforEC2Role is the AWS-maintained policy the ECS "
                    "agent on AWS Batch container instances needs (register, poll, pull, log)."
                ),
                applies_to=[f"{_MANAGED}AmazonEC2ContainerServiceforEC2Role"],
            )
        ],
    )


def accept_execution_resource_findings(functions: Iterable[lambda_.Function]) -> None:
    """Prepare, Register and Cleanup: each execution's access points and definition, at run time."""
    roles = [function.role for function in functions if function.role is not None]
    _suppress(
        roles,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Each execution's access points are made at run time, so their ids are not "
                    "known to the stack (access-point/*): creating and tagging them requires the "
                    "environment's tag on the request, deleting them the tag on the access point. "
                    "Each execution's job definition (demand-<env>_<execution id>) likewise: "
                    "Cleanup may deregister only this environment's."
                ),
                applies_to=[
                    RegexAppliesTo(
                        regex="/^Resource::arn:.*:elasticfilesystem:.*:access-point\\/\\*$/"
                    ),
                    RegexAppliesTo(
                        regex="/^Resource::arn:.*:batch:.*:job-definition\\/demand-.*\\*$/"
                    ),
                ],
            )
        ],
    )


def accept_notification_findings(function: lambda_.Function) -> None:
    """The notification function reads an ended execution's input, of this state machine only."""
    if function.role is None:
        return
    _suppress(
        [function.role],
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "states:DescribeExecution on this environment's state machine's executions "
                    "(execution:<state machine>:*): which execution ended is known only from "
                    "the event; the input is read when the event left it out for size."
                ),
                applies_to=[
                    RegexAppliesTo(regex="/^Resource::arn:.*:states:.*:execution:.*:\\*$/")
                ],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "The topic is encrypted with SNS's AWS-managed key, whose id the stack "
                    "cannot know: CDK's grant_publish allows kms:Decrypt and kms:GenerateDataKey* "
                    "on key/* only where kms:ResourceAliases is alias/aws/sns."
                ),
                applies_to=[
                    "Action::kms:GenerateDataKey*",
                    RegexAppliesTo(regex="/^Resource::arn:.*:kms:.*:key\\/\\*$/"),
                ],
            ),
        ],
    )


def accept_stopped_cleanup_findings(function: lambda_.Function) -> None:
    """The cleanup of stopped executions: Step Functions' word on this state machine's
    executions, and the jobs of any of them, found by name."""
    if function.role is None:
        return
    _suppress(
        [function.role],
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "states:DescribeExecution on this environment's state machine's executions "
                    "(execution:<state machine>:*): which execution stopped is known only from "
                    "the event, and Step Functions must confirm it before anything is removed."
                ),
                applies_to=[
                    RegexAppliesTo(regex="/^Resource::arn:.*:states:.*:execution:.*:\\*$/")
                ],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "batch:TerminateJob on job/*, only for jobs with this environment's tag: job "
                    "ids are known only at run time (batch:ListJobs has no resource-level "
                    "permissions, and Resource '*' for it is accepted with the Lambda findings)."
                ),
                applies_to=[RegexAppliesTo(regex="/^Resource::arn:.*:batch:.*:job\\/\\*$/")],
            ),
        ],
    )


def accept_run_set_findings(state_machine: sfn.StateMachine) -> None:
    """The run-set state machine: what its Distributed Map needs, as CDK grants it."""
    _suppress(
        [state_machine],
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Resource '*' only where the API has no resource-level permissions: X-Ray "
                    "tracing and CloudWatch Logs delivery (vended logs)."
                ),
                applies_to=["Resource::*"],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Describing and stopping the Distributed Map's own child workflows "
                    "(execution:<this state machine>/Rows:*) and its executions "
                    "(execution:<this state machine>:*), as CDK grants a Distributed Map: "
                    "their names are made at run time."
                ),
                applies_to=[
                    RegexAppliesTo(regex="/^Resource::arn:.*:states:.*:execution:.*:\\*$/")
                ],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Describing and stopping the execution each row starts "
                    "(execution:<the environment's state machine>*), as CDK grants "
                    "startExecution.sync: a row's execution is named at run time."
                ),
                applies_to=[RegexAppliesTo(regex="/^Resource::arn:.*:states:.*:execution:.*\\*$/")],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "The Distributed Map's item reader (the manifest) and result writer, as CDK "
                    "grants them on the data bucket's objects: manifests and results are named "
                    "per set and per map run at run time, under demand-run-sets/."
                ),
                applies_to=[
                    RegexAppliesTo(
                        regex="/^Resource::arn:.*:s3:::(<DataBucket[A-Za-z0-9]*>|[a-z0-9.-]+)\\/\\*$/"
                    )
                ],
            ),
        ],
    )
