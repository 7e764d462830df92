"""The orchestration benchmark stays runnable, and its headline figure stays on target."""

from __future__ import annotations

from pathlib import Path

from benchmarks.orchestration import TARGET_TRANSITIONS, measure
from tests.synthesis import Synthesis


def test_transitions_grow_by_one_per_extra_input_or_output(
    synthesis: Synthesis, aws: str, tmp_path: Path
) -> None:
    measured, reused = measure(synthesis.templates["dev"], 2, tmp_path)
    # 13 for one input and one output, then one more per extra input and per extra output.
    assert measured.transitions == TARGET_TRANSITIONS + 2
    assert measured.invocations == {"prepare": 1, "register": 1, "sync": 4, "cleanup": 1}
    assert measured.cost > 0
    # The same request again is reused: Prepare, Reused?, Reused (docs/reuse.md).
    assert reused.transitions == 3
    assert reused.invocations == {"prepare": 1}
    assert reused.cost < measured.cost
