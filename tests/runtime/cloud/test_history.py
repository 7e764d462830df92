"""Reading where an execution is, and which Batch job it ran, from its history."""

from __future__ import annotations

from typing import Any, cast

from runtime.cloud.history import batch_job_id, current_step, failed_step, newest_events
from tests.runtime.cloud import histories


def test_a_running_execution_is_at_its_latest_state() -> None:
    events = histories.running_job().newest_first()
    assert current_step(events) == "Run job"
    assert failed_step(events) == "Run job"


def test_a_failed_execution_names_the_step_that_failed() -> None:
    events = histories.failed_job().newest_first()
    assert current_step(events) == "Fail"
    assert failed_step(events) == "Run job"


def test_the_batch_job_comes_from_its_submission() -> None:
    assert batch_job_id(histories.running_job("job-9").newest_first()) == "job-9"


def test_the_batch_job_comes_from_its_failure_too() -> None:
    events = histories.failed_job("job-4").newest_first()
    only_failure = [e for e in events if e["type"] != "TaskSubmitted"]
    assert batch_job_id(only_failure) == "job-4"


def test_no_job_before_run_job() -> None:
    events = histories.preparing().newest_first()
    assert batch_job_id(events) is None
    assert current_step(events) == "Prepare"
    assert current_step([]) is None


def test_lambda_results_are_not_taken_for_jobs() -> None:
    history = histories.History()
    history.add(
        "TaskSucceeded",
        taskSucceededEventDetails={"resourceType": "lambda", "output": '{"JobId": "no"}'},
    )
    history.batch_task("TaskSucceeded", "taskSucceededEventDetails", output="not json")
    assert batch_job_id(history.newest_first()) is None


class _PagedHistory:
    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def get_execution_history(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        page = len(self.requests)
        result: dict[str, Any] = {"events": [{"id": page}]}
        if page < self.pages:
            result["nextToken"] = f"token-{page}"
        return result


def test_history_is_read_newest_first_page_by_page() -> None:
    client = _PagedHistory(pages=3)
    events = list(newest_events(cast(Any, client), "arn:execution"))
    assert [event["id"] for event in events] == [1, 2, 3]
    assert [r.get("nextToken") for r in client.requests] == [None, "token-1", "token-2"]
    assert all(r["reverseOrder"] and not r["includeExecutionData"] for r in client.requests)


def test_history_reading_stops_after_enough_pages() -> None:
    client = _PagedHistory(pages=100)
    assert len(list(newest_events(cast(Any, client), "arn:execution", max_pages=2))) == 2
