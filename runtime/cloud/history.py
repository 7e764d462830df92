"""Reading an execution's event history: where it is, and which Batch job it ran.

Pure functions over the events of ``GetExecutionHistory`` (newest first), plus the one call
that pages through them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runtime import contract

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# States that only handled a failure, in the state machine's earlier definitions (the current
# one catches none: the failing step ends the execution). In the histories of executions that
# ran those, the step that failed is the one entered before them.
FAILURE_HANDLING_STATES = frozenset({contract.STATE_CLEANUP_AFTER_FAILURE, contract.STATE_FAIL})
# How far back to look: a page holds up to 1000 events; an execution with a few thousand
# syncs has more, but its current step and its job are near the end.
MAX_HISTORY_PAGES = 5

Event = Mapping[str, Any]


def newest_events(
    stepfunctions: SFNClient, execution_arn: str, *, max_pages: int = MAX_HISTORY_PAGES
) -> Iterator[Event]:
    """The execution's events, newest first, without their (possibly large) data."""
    request: dict[str, Any] = {
        "executionArn": execution_arn,
        "reverseOrder": True,
        "maxResults": 1000,
        "includeExecutionData": False,
    }
    for _ in range(max_pages):
        page = stepfunctions.get_execution_history(**request)
        yield from page["events"]
        if not page.get("nextToken"):
            return
        request["nextToken"] = page["nextToken"]


def entered_states(events: Iterable[Event]) -> Iterator[str]:
    """The names of the states entered, in the order of ``events``."""
    for event in events:
        if event.get("type", "").endswith("StateEntered"):
            name = event.get("stateEnteredEventDetails", {}).get("name")
            if name:
                yield name


def current_step(newest_first: Iterable[Event]) -> str | None:
    """The state entered last: where a running execution is, where a finished one ended."""
    return next(entered_states(newest_first), None)


def failed_step(newest_first: Iterable[Event]) -> str | None:
    """The last state entered before the execution ended (before an earlier definition's
    failure handling took over)."""
    return next(
        (name for name in entered_states(newest_first) if name not in FAILURE_HANDLING_STATES),
        None,
    )


_BATCH_DETAILS = {
    "TaskSubmitted": ("taskSubmittedEventDetails", "output"),
    "TaskSucceeded": ("taskSucceededEventDetails", "output"),
    "TaskFailed": ("taskFailedEventDetails", "cause"),
}


def batch_job_id(newest_first: Iterable[Event]) -> str | None:
    """The id of the latest Batch job the execution submitted, if it submitted one."""
    for event in newest_first:
        details_key, text_key = _BATCH_DETAILS.get(event.get("type", ""), (None, None))
        if details_key is None or text_key is None:
            continue
        details = event.get(details_key, {})
        if details.get("resourceType") != "batch":
            continue
        job_id = _job_id(details.get(text_key))
        if job_id:
            return job_id
    return None


def _job_id(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    job_id = document.get("JobId") if isinstance(document, dict) else None
    return job_id if isinstance(job_id, str) and job_id else None


def batch_job_failure(newest_first: Iterable[Event]) -> Mapping[str, Any] | None:
    """The description of the latest Batch job that failed (the cause Step Functions records:
    the job as DescribeJobs gives it), if the execution ran one that failed."""
    for event in newest_first:
        if event.get("type") != "TaskFailed":
            continue
        details = event.get("taskFailedEventDetails", {})
        if details.get("resourceType") != "batch":
            continue
        try:
            document = json.loads(details.get("cause") or "{}")
        except ValueError:
            document = {}
        return document if isinstance(document, dict) else {}
    return None


def job_exit_code(description: Mapping[str, Any]) -> int | None:
    """The failed job's exit code, from its container or its latest attempt's; None when it
    never ran (an image that could not be pulled, a job terminated before it started)."""
    containers = [description.get("Container")] + [
        attempt.get("Container") for attempt in reversed(description.get("Attempts") or [])
    ]
    for container in containers:
        if isinstance(container, dict) and isinstance(container.get("ExitCode"), int):
            return int(container["ExitCode"])
    return None
