"""Reading the JSON / YAML documents users write, and describing what is wrong with them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runtime.errors import DocumentError

Model = TypeVar("Model", bound=BaseModel)


def read_document(path: Path, error: Callable[[list[str]], DocumentError]) -> object:
    """Parse a ``.json`` file as JSON and anything else as YAML (a superset of JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error([f"{path}: not valid {_kind(path)}: {first_line}"]) from None


def _kind(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "YAML"


def validate_document(
    model: type[Model], data: Any, error: Callable[[list[str]], DocumentError]
) -> Model:
    """``model.model_validate(data)``, with every problem as one line naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error([describe(detail) for detail in exc.errors()]) from None


def describe(error: ErrorDetails) -> str:
    """``field.path[0]: message`` for one pydantic error."""
    location = "".join(field_part(part) for part in error["loc"]).lstrip(".")
    message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
    return f"{location or 'document'}: {message}"


def field_part(part: str | int) -> str:
    """One step of a field path: ``.name``, ``[0]``, or ``['odd name']`` when it must be quoted."""
    if isinstance(part, int):
        return f"[{part}]"
    if part and all(c.isalnum() or c in "_-" for c in part):
        return f".{part}"
    return f"[{part!r}]"
