"""A handler's event validated into its model before the handler sees it.

What Powertools' ``event_parser`` does for an event without an envelope, without importing its
parser package and what that brings with it (paid on every cold start; see
benchmarks/startup.py). An event that does not fit raises pydantic's ``ValidationError``, as
``event_parser`` did: Lambda reports the error by that name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter

Event = TypeVar("Event")
Result = TypeVar("Result")

Handler = Callable[[Event, LambdaContext], Result]
# What Lambda calls: any event, and a context that quacks like LambdaContext (tests pass fakes).
RawHandler = Callable[[Any, Any], Result]


def parsed_event(
    model: type[Event] | TypeAdapter[Event],
) -> Callable[[Handler[Event, Result]], RawHandler[Result]]:
    """Decorate a handler of ``model`` into a handler of the raw event (a dict, or JSON text)."""
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)

    def decorate(handler: Handler[Event, Result]) -> RawHandler[Result]:
        @functools.wraps(handler)
        def parse_then_handle(event: Any, context: Any) -> Result:
            if isinstance(event, str | bytes):
                return handler(adapter.validate_json(event), context)
            return handler(adapter.validate_python(event), context)

        return parse_then_handle

    return decorate
