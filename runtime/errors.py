"""Errors named for what the state machine does with them.

Step Functions matches a Lambda's error by the exception's class name, so these names are part
of the contract with the state machine: ``SpecError`` and ``PlanError`` fail the execution at
once, ``TransientAwsError`` is retried with backoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

# Error codes of AWS APIs (S3, Batch, Step Functions, CloudFormation, ...) that a retry after
# backoff may cure; with any 5xx status. The one list every translation below uses.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "PreconditionFailed",  # S3: the object changed between listing and reading it
        "OperationAborted",
    }
)


class DemandError(Exception):
    """Base class of the project's own errors."""


class DocumentError(DemandError):
    """A user's document is invalid: ``problems`` holds one line per problem, naming its field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class SpecError(DocumentError):
    """The request is invalid. Never retried; nothing is started."""


class ConfigError(DocumentError):
    """A configuration file or setting is invalid."""


class PlanError(DemandError):
    """A valid request that cannot be planned with this configuration (e.g. no job queue)."""


class TransientAwsError(DemandError):
    """An AWS call failed in a way that may succeed if retried (throttling, 5xx)."""


class AwsRequestError(DemandError):
    """AWS refused a request in a way a retry will not change (permissions, bad values)."""


def is_retryable(code: str, status: int = 0) -> bool:
    """Whether an AWS error with this code and HTTP status may succeed when retried."""
    return code in RETRYABLE_CODES or status >= 500


def translate_client_error(error: ClientError, subject: str) -> DemandError:
    """A :class:`TransientAwsError` for throttling and 5xx, an :class:`AwsRequestError` else."""
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    message = error.response.get("Error", {}).get("Message", str(error))
    text = f"{subject}: {code or 'error'}: {message}"
    if is_retryable(code, status):
        return TransientAwsError(text)
    return AwsRequestError(text)
