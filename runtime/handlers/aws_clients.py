"""boto3's clients for the steps that call AWS, with boto3 imported on the first one.

Importing boto3 loads botocore, s3transfer and (through botocore) awscrt: over half of such a
step's import. A step makes its clients inside the handler, so the import moves from the
module's import to the first invocation, where the X-Ray tracer patches botocore before it
(runtime.handlers.tracing); a step's import stays light, and its tests and the contract checks
that import every handler pay for boto3 only where a handler runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["aws_client"]

if TYPE_CHECKING:
    # The same function to the type checker: each service's client typed by its stubs.
    from boto3 import client as aws_client
else:

    def aws_client(service_name: str, *args: Any, **kwargs: Any) -> Any:
        """``boto3.client(service_name, ...)``."""
        import boto3  # on first use: see the module's docstring

        return boto3.client(service_name, *args, **kwargs)
