"""`demand submit --notify ADDRESS`: recipients added to the request's notify_list."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.errors import SpecError
from runtime.spec import DemandExecution, parse_spec


def with_recipients(spec: DemandExecution, recipients: Sequence[str]) -> DemandExecution:
    """The request with ``recipients`` appended to ``execution_metadata.notify_list`` (each
    once), validated again: a bad address is refused as the request's own would be."""
    if not recipients:
        return spec
    document = spec.model_dump(mode="json")
    metadata = document.setdefault("execution_metadata", {})
    listed = list(metadata.get("notify_list") or [])
    metadata["notify_list"] = list(dict.fromkeys([*listed, *recipients]))
    try:
        return parse_spec(document)
    except SpecError as exc:
        raise SpecError([f"--notify: {problem}" for problem in exc.problems]) from None
