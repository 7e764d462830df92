"""Rich progress bars for staging in ``demand run``."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from runtime.local.runner import ProgressFactory, StagingProgress
from runtime.sync.request import SyncRequest


def staging_progress(console: Console) -> ProgressFactory:
    def factory(stage: str, requests: Sequence[SyncRequest]) -> StagingProgress:
        return StagingProgress()

    return factory
