"""The Powertools logger and tracer every Lambda step shares (service name from the
POWERTOOLS_SERVICE_NAME variable the stack sets)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Tracer

logger = Logger()
tracer = Tracer()


def deadline_from(remaining_ms: int, now: float) -> float:
    """A monotonic deadline that leaves time to finish a transfer in flight and return.

    A tenth of the remaining time, between 5 and 60 seconds, is kept in reserve.
    """
    remaining = remaining_ms / 1000
    reserve = min(60.0, max(5.0, remaining / 10))
    return now + max(0.0, remaining - reserve)
