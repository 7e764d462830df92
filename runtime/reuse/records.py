"""What is kept of a successful execution's result, and the stores that keep it.

A record read back is untrusted (anything able to write the database could have written it):
it is validated here, and a record that does not validate is a miss — never a crash, never a
result served from a location it names without the checks of ``runtime.reuse.outputs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.reuse.key import KEY_PATTERN, ObjectIdentity

EXECUTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# No more objects per record than a DynamoDB item (400 KB) can hold with room to spare.
MAX_RECORDED_OBJECTS = 1000


class RecordedOutput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(max_length=256)
    # Where the output went: a single object's or file's URI, or a tree's (ending in "/").
    location: str = Field(max_length=2048)
    single: bool
    objects: tuple[ObjectIdentity, ...]

    @field_validator("location")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("s3://", "file:///")):
            raise ValueError("not an s3:// or absolute file:// location")
        return value


class ReuseRecord(BaseModel):
    """The outputs of the execution that first produced a key's result, as they were."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    execution_id: str = Field(pattern=EXECUTION_ID_PATTERN)
    recorded_at: AwareDatetime
    expires_at: AwareDatetime
    outputs: tuple[RecordedOutput, ...] = Field(max_length=MAX_RECORDED_OBJECTS)

    @field_validator("outputs")
    @classmethod
    def _bounded(cls, value: tuple[RecordedOutput, ...]) -> tuple[RecordedOutput, ...]:
        if sum(len(output.objects) for output in value) > MAX_RECORDED_OBJECTS:
            raise ValueError(f"more than {MAX_RECORDED_OBJECTS} objects")
        return value

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires_at


def new_record(
    key: str, execution_id: str, outputs: tuple[RecordedOutput, ...], *, ttl_days: int
) -> ReuseRecord:
    now = datetime.now(UTC)
    return ReuseRecord(
        key=key,
        execution_id=execution_id,
        recorded_at=now,
        expires_at=now + timedelta(days=ttl_days),
        outputs=outputs,
    )


def parsed_record(body: object, key: str) -> ReuseRecord | None:
    """``body`` (a record's JSON text) as a record of ``key``, or None when it is not one."""
    if not isinstance(body, str | bytes):
        return None
    try:
        record = ReuseRecord.model_validate_json(body)
    except ValidationError:
        return None
    return record if record.key == key else None


@dataclass(frozen=True)
class Stored:
    """What a store holds under a key: the record (None when it is corrupt) and its version
    token (None when there is none to trust), for the conditional write that replaces it."""

    record: ReuseRecord | None
    token: str | None


class RecordStore(Protocol):
    def get(self, key: str) -> Stored | None:
        """What is kept under ``key``; None when nothing is."""
        ...

    def put(self, record: ReuseRecord, *, replacing: Stored | None) -> bool:
        """Keep ``record`` if the store still holds what ``replacing`` says (nothing, or that
        token); whether it was written. Atomic: a concurrent writer of the same key makes one
        of the two writes fail, never a mixture of both."""
        ...
