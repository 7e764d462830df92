"""The orchestration benchmark stays runnable, and its headline figure stays on target."""

from __future__ import annotations

from pathlib import Path

from benchmarks.orchestration import TARGET_TRANSITIONS, measure
from tests.synthesis import Synthesis


def test_transitions_grow_by_one_per_extra_input_or_output(
    synthesis: Synthesis, aws: str, tmp_path: Path
) -> None:
    measured = measure(synthesis.templates["dev"], 2, tmp_path)
    # 12 for one input and one output, then one more per extra input and per extra output.
    assert measured.transitions == TARGET_TRANSITIONS + 2
    assert measured.invocations == {"prepare": 1, "register": 1, "sync": 4, "cleanup": 1}
    assert measured.cost > 0
