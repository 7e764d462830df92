"""The AWS clients the cloud commands use, made together so tests can pass their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_stepfunctions import SFNClient


@dataclass(frozen=True)
class AwsClients:
    cloudformation: CloudFormationClient
    stepfunctions: SFNClient
    batch: BatchClient
    logs: CloudWatchLogsClient
    lambda_: LambdaClient

    @classmethod
    def create(cls, region: str | None = None) -> AwsClients:
        """Clients for ``region`` (else the configured default), from the usual credentials."""
        session = boto3.session.Session(region_name=region)
        return cls(
            cloudformation=session.client("cloudformation"),
            stepfunctions=session.client("stepfunctions"),
            batch=session.client("batch"),
            logs=session.client("logs"),
            lambda_=session.client("lambda"),
        )
