"""The Powertools logger every Lambda step shares (service name from the POWERTOOLS_SERVICE_NAME
variable the stack sets), and the deadline a long step works to.

The X-Ray tracer is in ``runtime.handlers.tracing``, for the steps that call AWS through boto3:
the SDK behind it loads botocore, which a step that does not use it should not pay for.
"""

from __future__ import annotations

from aws_lambda_powertools.logging import Logger

logger = Logger()


def deadline_from(remaining_ms: int, now: float) -> float:
    """A monotonic deadline that leaves time to finish a transfer in flight and return.

    A tenth of the remaining time, between 5 and 60 seconds, is kept in reserve.
    """
    remaining = remaining_ms / 1000
    reserve = min(60.0, max(5.0, remaining / 10))
    return now + max(0.0, remaining - reserve)
