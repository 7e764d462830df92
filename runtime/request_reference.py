"""A stored request's reference: what an execution starts with when its request is stored.

``demand submit`` stores a request too large to be an execution's input inline in the
environment's data bucket (runtime.cloud.requests) and starts the execution with this small
object as its ``spec`` instead::

    {"$request": "s3://<data bucket>/requests/<execution id>.json",
     "$sha256": "<hex digest of the stored bytes>",
     "execution_id": "<id>", "execution_metadata": {...}}

The request's own ``execution_id`` and ``execution_metadata`` stay in the reference, so what
reads an execution's input for them (the notification's requester, ``demand status``) reads
either form alike. The digest pins the stored bytes to the execution: whatever writes the
object after ``demand submit`` did (a second submit of the same id racing the first, say), the
execution's Prepare refuses it rather than run another request (runtime.steps.stored_request).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.errors import SpecError

REFERENCE_FIELD = "$request"
DIGEST_FIELD = "$sha256"
# The request's fields a reference carries, each under the spelling the request used.
CARRIED_FIELDS = ("execution_id", "executionId", "execution_metadata", "executionMetadata")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_LONGEST_URI = 2048


@dataclass(frozen=True)
class RequestReference:
    """A reference as an execution's input holds it."""

    uri: str
    sha256: str
    # The request's fields it carries (CARRIED_FIELDS), as the request spelled them.
    carried: Mapping[str, Any]


def is_reference(data: object) -> bool:
    """Whether an execution's ``spec`` is a reference to a stored request."""
    return isinstance(data, Mapping) and REFERENCE_FIELD in data


def parse_reference(data: Mapping[str, Any]) -> RequestReference:
    """The reference ``data`` holds; :class:`SpecError` naming each field that is wrong."""
    problems = [
        f"{name}: unknown field (a stored request's reference holds {REFERENCE_FIELD}, "
        f"{DIGEST_FIELD} and the request's execution_id and execution_metadata only)"
        for name in sorted(map(str, data))
        if name not in (REFERENCE_FIELD, DIGEST_FIELD, *CARRIED_FIELDS)
    ]
    uri, digest = data.get(REFERENCE_FIELD), data.get(DIGEST_FIELD)
    if not isinstance(uri, str) or not 0 < len(uri) <= _LONGEST_URI:
        problems.append(
            f"{REFERENCE_FIELD}: expected an s3:// URI of at most {_LONGEST_URI} characters"
        )
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        problems.append(f"{DIGEST_FIELD}: expected the stored request's SHA-256, 64 hex digits")
    if problems or not isinstance(uri, str) or not isinstance(digest, str):
        raise SpecError(problems)
    carried = {name: data[name] for name in CARRIED_FIELDS if name in data}
    return RequestReference(uri=uri, sha256=digest, carried=carried)


def stored_body(spec: Mapping[str, Any]) -> bytes:
    """The bytes ``demand submit`` stores for ``spec``: compact JSON, as the input would be."""
    return json.dumps(spec, separators=(",", ":")).encode()


def reference_to(spec: Mapping[str, Any], uri: str, body: bytes) -> dict[str, Any]:
    """The reference to ``spec``, stored as ``body`` at ``uri``."""
    carried = {name: spec[name] for name in CARRIED_FIELDS if name in spec}
    return {REFERENCE_FIELD: uri, DIGEST_FIELD: hashlib.sha256(body).hexdigest()} | carried
