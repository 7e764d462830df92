"""The X-Ray tracer of the steps that call AWS APIs through boto3: a subsegment for each
handler call and one for each AWS request, under the trace Lambda records for the invocation.

Only botocore is patched. Powertools' default patches every library the X-Ray SDK knows that is
installed — http.client among them, under botocore, so each AWS request would be traced twice.

The tracer is made on the handler's first call, not at import: making it imports the X-Ray SDK
and, to patch it, botocore — which the step then loads with boto3 for its first client anyway,
inside the handler, so importing the handler stays light (benchmarks/startup.py) and nothing is
traced any differently: every AWS request a step makes is made inside the handler, after the
patch.

The sync step has no tracer: its transfers go through awscrt, which the SDK does not patch, so
all it would add is a subsegment for the handler call — which Lambda's own trace of the
invocation already shows — at the price of the SDK and botocore on every cold start of the step
that runs most often.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.tracing import Tracer

Result = TypeVar("Result")


class HandlerTracer:
    """Powertools' ``Tracer(patch_modules=("botocore",))``, made when first needed."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None

    @property
    def tracer(self) -> Tracer:
        if self._tracer is None:
            self._tracer = Tracer(patch_modules=("botocore",))
        return self._tracer

    def capture_lambda_handler(
        self, handler: Callable[[Any, Any], Result]
    ) -> Callable[[Any, Any], Result]:
        """``Tracer.capture_lambda_handler``, the tracer made (and botocore patched) on the
        first call."""
        traced: Callable[[Any, Any], Result] | None = None

        @functools.wraps(handler)
        def capture(event: Any, context: Any) -> Result:
            nonlocal traced
            if traced is None:
                traced = self.tracer.capture_lambda_handler(handler)
            return traced(event, context)

        return capture


tracer = HandlerTracer()
