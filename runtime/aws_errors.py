"""Turning botocore's ClientError into the project's errors, by whether a retry can help."""

from __future__ import annotations

from botocore.exceptions import ClientError

from runtime.errors import AwsRequestError, TransientAwsError

THROTTLING_CODES = frozenset(
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
    }
)


def translate_client_error(error: ClientError, subject: str) -> Exception:
    """A :class:`TransientAwsError` for throttling and 5xx, an :class:`AwsRequestError` else."""
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    message = error.response.get("Error", {}).get("Message", str(error))
    text = f"{subject}: {code or 'error'}: {message}"
    if code in THROTTLING_CODES or status >= 500:
        return TransientAwsError(text)
    return AwsRequestError(text)
