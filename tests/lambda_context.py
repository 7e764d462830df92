"""A stand-in for the context object Lambda passes to a handler."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "demand-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-west-2:123456789012:function:demand-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    # Seconds of run time left when the handler starts (Lambda's limit is 900).
    budget: float = 900.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.budget - (time.monotonic() - self.started)) * 1000))


def load_event(name: str) -> dict[str, Any]:
    """A JSON event from tests/events/."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event
