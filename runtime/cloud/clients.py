"""The AWS clients the cloud commands use, made together so tests can pass their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime import aws_config

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient


@dataclass(frozen=True)
class AwsClients:
    cloudformation: CloudFormationClient
    stepfunctions: SFNClient
    batch: BatchClient
    logs: CloudWatchLogsClient
    lambda_: LambdaClient
    # Run sets' manifests (`demand submit --table`) and the requests too large to start an
    # execution with inline (runtime.cloud.requests); tests that need none pass none.
    s3: S3Client | None = None

    @classmethod
    def create(cls, region: str | None = None) -> AwsClients:
        """Clients for ``region``, else the region :mod:`runtime.aws_config` resolves (an error
        when nothing sets one), of the profile and endpoints it resolves, from the usual
        credentials."""
        # Imported here, not with the module: boto3 is most of a second of start-up, which the
        # commands that never talk to AWS (demand --help, plan, run) should not pay.
        import boto3

        # boto3 finds the profile (AWS_PROFILE) itself; it reads no AWS_REGION, so the region
        # is given, resolved as everywhere else.
        session = boto3.session.Session(region_name=region or aws_config.require_region())
        return cls(
            cloudformation=session.client(
                "cloudformation", endpoint_url=aws_config.endpoint_url("cloudformation")
            ),
            stepfunctions=session.client(
                "stepfunctions", endpoint_url=aws_config.endpoint_url("sfn")
            ),
            batch=session.client("batch", endpoint_url=aws_config.endpoint_url("batch")),
            logs=session.client("logs", endpoint_url=aws_config.endpoint_url("cloudwatch_logs")),
            lambda_=session.client("lambda", endpoint_url=aws_config.endpoint_url("lambda")),
            s3=session.client("s3", endpoint_url=aws_config.endpoint_url("s3")),
        )
