"""runtime.handlers.events: the event validated into the handler's model, as event_parser did."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from runtime.handlers.events import parsed_event


class Ping(BaseModel):
    count: int


class Pong(BaseModel):
    reply: str


@parsed_event(Ping)
def ping(event: Ping, context: Any) -> int:
    return event.count + 1


@parsed_event(TypeAdapter(Ping | Pong))
def either(event: Ping | Pong, context: Any) -> str:
    return type(event).__name__


def test_a_dict_or_json_text_becomes_the_model() -> None:
    assert ping({"count": 1}, None) == 2
    assert ping('{"count": 2}', None) == 3
    assert ping.__name__ == "ping"
    assert either({"reply": "x"}, None) == "Pong"


@pytest.mark.parametrize("event", [{}, {"count": "many"}, "not json", None])
def test_an_event_that_does_not_fit_is_pydantics_validation_error(event: object) -> None:
    # Lambda reports the error by the exception's class name, as it did with event_parser.
    with pytest.raises(ValidationError):
        ping(event, None)
