"""Reading the JSON / YAML documents users write, and describing what is wrong with them.

A document is untrusted (any bytes, any size), so reading one is bounded: at most
:data:`MAX_DOCUMENT_BYTES`, UTF-8 only, containers nested at most :data:`MAX_DEPTH` deep, YAML
aliases expanding to at most :data:`MAX_ALIAS_NODES` nodes in all, and no key given twice in one
object (JSON and YAML would silently keep the last). Whatever breaks a rule is refused with one
line naming the place, as :class:`~runtime.errors.DocumentError` problems.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runtime.errors import DocumentError

Model = TypeVar("Model", bound=BaseModel)

# Four times the largest state input Step Functions accepts (256 KiB): a request this large runs
# in the cloud only as a stored request (runtime.cloud.requests), and no configuration comes near
# it. About 14,000 inputs (a request of 4,000 inputs is some 290 KiB).
MAX_DOCUMENT_BYTES = 1024 * 1024
# Lists and objects inside each other: a request has five or six levels; JSON and YAML parsers
# recurse, so an unbounded depth is a crash (RecursionError), not a bigger request.
MAX_DEPTH = 64
# Nodes that YAML aliases add when expanded (an alias stands for a copy of its anchor's node):
# enough for any real use of anchors, far too few for an "alias bomb" (billion laughs).
MAX_ALIAS_NODES = 10_000
# Duplicate keys reported from one document, so that the answer stays bounded too.
MAX_DUPLICATES_REPORTED = 20

# A JSON string, or one of the characters that give a document its structure.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[][{},]', re.DOTALL)


class RefusedError(Exception):
    """A document breaks one of the limits: reading stops at once."""

    def __init__(self, line: int, where: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.line, self.where, self.message = line, list(where), message


class DocumentSyntaxError(Exception):
    """A parser's error: where it is (``line:column: `` or nothing) and what it is."""

    def __init__(self, place: str, cause: str) -> None:
        super().__init__(cause)
        self.place, self.cause = place, cause


@dataclass(frozen=True)
class Duplicate:
    line: int
    where: list[str | int]
    first_line: int


def read_document(
    path: Path,
    error: Callable[[list[str]], DocumentError],
    *,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    too_large: str = "more than any request needs",
) -> object:
    """Parse a ``.json`` file as JSON and anything else as YAML (a superset of JSON).

    ``max_bytes``: the largest document read (a run set's table may be larger than a request);
    ``too_large`` says why in the refusal."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except OSError as exc:
        raise error([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    return parse_document(
        raw,
        str(path),
        error,
        as_json=path.suffix == ".json",
        max_bytes=max_bytes,
        too_large=too_large,
    )


def parse_document(
    raw: bytes,
    source: str,
    error: Callable[[list[str]], DocumentError],
    *,
    as_json: bool,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    too_large: str = "more than any request needs",
) -> object:
    """Parse ``raw`` (read from ``source``, which each problem names) as JSON or YAML, within
    the limits. A caller reads at most ``max_bytes + 1`` bytes: more is refused."""
    if len(raw) > max_bytes:
        raise error([f"{source}: larger than {max_bytes // 1024} KiB, {too_large}"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start]
        message = f"not UTF-8 text (byte {byte:#04x} at offset {exc.start})"
        raise error([f"{source}:{line}: {message}"]) from None
    kind = "JSON" if as_json else "YAML"
    try:
        if as_json:
            data, duplicates = _parse_json(text)
        else:
            # PyYAML is loaded for YAML documents only: the Lambda steps read none.
            from runtime.yaml_documents import parse_yaml

            data, duplicates = parse_yaml(text)
    except RefusedError as refused:
        where = _where(refused.where)
        raise error([f"{source}:{refused.line}: {where}: {refused.message}"]) from None
    except json.JSONDecodeError as exc:
        raise error([f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"]) from None
    except DocumentSyntaxError as exc:
        raise error([f"{source}:{exc.place}not valid YAML: {exc.cause}"]) from None
    except ValueError as exc:
        # ValueError: json's own errors, and the integer or date a parser could not convert
        # (e.g. an integer of more than 4300 digits).
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error([f"{source}: not valid {kind}: {first_line}"]) from None
    if duplicates:
        problems = [
            f"{source}:{d.line}: {_where(d.where)}: duplicate key (first on line {d.first_line})"
            for d in duplicates[:MAX_DUPLICATES_REPORTED]
        ]
        if len(duplicates) > MAX_DUPLICATES_REPORTED:
            more = len(duplicates) - MAX_DUPLICATES_REPORTED
            problems.append(f"{source}: {more} more duplicate keys")
        raise error(problems)
    return data


def _where(parts: Sequence[str | int]) -> str:
    """A field path for a message: ``a.b[0]``, shortened when a document nests very deep."""
    shown = "".join(field_part(part) for part in parts[:12]).lstrip(".")
    if len(parts) > 12:
        shown += "…"
    return shown or "document"


# --- JSON ------------------------------------------------------------------------------------


@dataclass
class _JsonFrame:
    """One open object or list while scanning a JSON document's structure."""

    is_object: bool
    index: int = 0
    key: str | None = None
    expects_key: bool = True
    keys: dict[str, int] = field(default_factory=dict)

    def part(self) -> str | int | None:
        return self.key if self.is_object else self.index


def _json_path(stack: list[_JsonFrame]) -> list[str | int]:
    return [part for frame in stack if (part := frame.part()) is not None]


def _parse_json(text: str) -> tuple[object, list[Duplicate]]:
    """``json.loads(text)``, after a scan of its structure that refuses nesting deeper than
    :data:`MAX_DEPTH` (before the recursive parser sees it) and finds duplicate keys."""
    stack: list[_JsonFrame] = []
    duplicates: list[Duplicate] = []
    line, counted = 1, 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            if len(stack) >= MAX_DEPTH:
                line += text.count("\n", counted, match.start())
                raise RefusedError(
                    line, _json_path(stack), f"nested deeper than {MAX_DEPTH} levels"
                )
            stack.append(_JsonFrame(is_object=token == "{"))
        elif token in ("]", "}"):
            if stack:
                stack.pop()
        elif token == ",":
            if stack:
                stack[-1].index += 1
                stack[-1].expects_key = True
        elif stack and stack[-1].is_object and stack[-1].expects_key:
            frame = stack[-1]
            try:
                key = json.loads(token)
            except ValueError:  # a malformed string: json.loads(text) reports it below
                key = token
            frame.key = key if isinstance(key, str) else token
            frame.expects_key = False
            line += text.count("\n", counted, match.start())
            counted = match.start()
            if frame.key in frame.keys:
                duplicates.append(Duplicate(line, _json_path(stack), frame.keys[frame.key]))
            else:
                frame.keys[frame.key] = line
    return json.loads(text), duplicates


# --- validation ------------------------------------------------------------------------------


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
