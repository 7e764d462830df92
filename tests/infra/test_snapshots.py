"""Whole-template snapshots: any change to the infrastructure is a reviewable diff.

Update after an intended change with ``./dev test tests/infra --snapshot-update``.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, normalised


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_template_matches_snapshot(
    synthesis: Synthesis, environment: str, snapshot_json: SnapshotAssertion
) -> None:
    assert normalised(synthesis.templates[environment]) == snapshot_json
