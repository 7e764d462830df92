"""What can go wrong using a deployed environment, each said in one line."""

from __future__ import annotations

from runtime.errors import DemandError


class CloudError(DemandError):
    """A request to a deployed environment could not be done; the message says why."""


class EnvironmentNotFoundError(CloudError):
    """No deployed stack for the environment, or one without the outputs the CLI needs."""


class ExecutionExistsError(CloudError):
    """An execution with this id was already started: ids are never run twice."""


class ExecutionNotFoundError(CloudError):
    """No execution with this id in the environment."""


class JobNotFoundError(CloudError):
    """The execution has no Batch job (yet), or the job has no log stream (yet)."""
