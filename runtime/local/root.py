"""A local directory standing in for the EFS file system, with its scratch / shared / tmp."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runtime.volumes import EfsMount, VolumeConfiguration

LOCAL_FILE_SYSTEM_ID = "local"


def default_root() -> Path:
    """``$XDG_CACHE_HOME/demand`` (``~/.cache/demand``): the shared cache outlives runs."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "demand"


@dataclass(frozen=True)
class LocalRoot:
    path: Path

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def runs(self) -> Path:
        """Each execution id's latest run record, for ``demand report`` (local/record.py)."""
        return self.path / "runs"

    @property
    def sets(self) -> Path:
        """Each run set's record (runtime/local/set_record.py)."""
        return self.path / "sets"

    @property
    def locks(self) -> Path:
        """Each execution id's lock file (runtime/local/claim.py): outside every job's view."""
        return self.path / "locks"

    @property
    def reuse_records(self) -> Path:
        """The results recorded for reuse (runtime/reuse/sqlite_records.py)."""
        return self.path / "reuse.sqlite"

    def mounts(self) -> list[EfsMount]:
        return [EfsMount(file_system_id=LOCAL_FILE_SYSTEM_ID, local_path=self.path)]

    def volumes(self, *, in_container: bool, base: VolumeConfiguration) -> VolumeConfiguration:
        """The volume layout for a local run.

        A container sees the usual container paths (``/opt/efs/...``), bind-mounted from here;
        a local process has no such mounts, so its "container paths" are the local ones.
        """
        update: dict[str, object] = {"file_system_id": LOCAL_FILE_SYSTEM_ID}
        if not in_container:
            update |= {
                "scratch_container_path": str(self.path / base.scratch_efs_path.lstrip("/")),
                "shared_container_path": str(self.path / base.shared_efs_path.lstrip("/")),
                "tmp_container_path": str(self.path / base.tmp_efs_path.lstrip("/")),
            }
        return VolumeConfiguration.model_validate(base.model_dump() | update)
