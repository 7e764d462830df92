"""Where one execution may act: roots derived from the deployment and the execution id alone.

Every step checks what it is asked to do against these — never against paths taken from the
request, the plan or the event — so a wrong or forged instruction cannot widen them:

- ``working`` (``/scratch/<id>``) and ``tmp`` (``/tmp/<id>``, with a tmp volume): the only
  directories the execution's job can write, the only ones cleanup may remove;
- ``shared``: the input cache, written only by stage-in;
- ``control`` (``/control/<id>``): the stored plan, outside every job's volumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from runtime.errors import PlanError
from runtime.spec import EXECUTION_ID_PATTERN
from runtime.volumes import EfsUri, VolumeConfiguration

PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class ExecutionRoots:
    execution_id: str
    working: EfsUri
    tmp: EfsUri | None
    shared: EfsUri
    control: EfsUri

    @classmethod
    def of(cls, execution_id: str, volumes: VolumeConfiguration) -> ExecutionRoots:
        if not EXECUTION_ID_PATTERN.fullmatch(execution_id):
            raise PlanError(f"refused: {execution_id!r} is not an execution id")
        tmp = volumes.tmp
        control = EfsUri(file_system_id=volumes.file_system_id, path=volumes.control_efs_path)
        return cls(
            execution_id=execution_id,
            working=volumes.scratch.efs_uri(execution_id),
            tmp=tmp.efs_uri(execution_id) if tmp is not None else None,
            shared=volumes.shared.efs_uri(),
            control=control.joinpath(execution_id),
        )

    @property
    def own(self) -> list[EfsUri]:
        """The execution's job-writable directories."""
        return [self.working, *([self.tmp] if self.tmp is not None else [])]

    @property
    def plan_file(self) -> EfsUri:
        return self.control.joinpath(PLAN_FILE)


def within(target: EfsUri | str, root: EfsUri) -> bool:
    """Whether ``target`` is ``root`` or under it (lexically: ``..`` is refused by EfsUri)."""
    uri = EfsUri.parse(target) if isinstance(target, str) else target
    if uri.file_system_id != root.file_system_id:
        return False
    return PurePosixPath(uri.path).is_relative_to(PurePosixPath(root.path))
