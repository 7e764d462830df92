"""Errors named for what the state machine does with them.

Step Functions matches a Lambda's error by the exception's class name, so these names are part
of the contract with the state machine: ``SpecError`` and ``PlanError`` fail the execution at
once, ``TransientAwsError`` is retried with backoff.
"""

from __future__ import annotations

from collections.abc import Sequence


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
