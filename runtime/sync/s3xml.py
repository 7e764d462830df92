"""The few S3 XML documents the CRT path reads and writes, parsed with the standard library.

The CRT client moves bytes; it does not model S3's responses. Listing pages, DeleteObjects
requests and replies, and error bodies are small XML documents handled here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from urllib.parse import unquote_plus

from runtime.sync.errors import TransientSyncError
from runtime.sync.listing import Entry

CODE_PATTERN = re.compile(rb"<Code>([^<]*)</Code>")
MESSAGE_PATTERN = re.compile(rb"<Message>([^<]*)</Message>")
XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def parse_listing(body: bytes, subject: str) -> tuple[list[Entry], str | None, str | None]:
    """A page's entries, its continuation token, and (for servers that truncate without a
    token) the key to start after."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise TransientSyncError(f"{subject}: unreadable listing: {exc}") from exc
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    key_tag, size_tag, etag_tag = f"{ns}Key", f"{ns}Size", f"{ns}ETag"
    algorithm_tag = f"{ns}ChecksumAlgorithm"
    decode = root.findtext(f"{ns}EncodingType") == "url"
    entries = []
    for item in root.iterfind(f"{ns}Contents"):
        fields = {child.tag: child.text for child in item}
        key = fields.get(key_tag) or ""
        if decode:
            key = unquote_plus(key)
        etag = fields.get(etag_tag)
        entries.append(
            Entry(
                key,
                int(fields.get(size_tag) or 0),
                etag=etag.strip('"') if etag else None,
                checksum_algorithm=fields.get(algorithm_tag) or None,
            )
        )
    if root.findtext(f"{ns}IsTruncated") != "true":
        return entries, None, None
    token = root.findtext(f"{ns}NextContinuationToken")
    if token:
        return entries, token, None
    return entries, None, entries[-1].relpath if entries else None


def delete_request(keys: Sequence[str]) -> bytes:
    """The body of a quiet DeleteObjects request (S3 takes at most 1000 keys)."""
    objects = "".join(f"<Object><Key>{_escape(key)}</Key></Object>" for key in keys)
    return f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()


def parse_delete_errors(reply: bytes, bucket: str) -> list[str]:
    """One line per key a DeleteObjects reply says could not be deleted."""
    failures = []
    for error in ET.fromstring(reply).iter():
        if error.tag.endswith("Error"):
            fields = {child.tag.rpartition("}")[2]: child.text or "" for child in error}
            failures.append(
                f"s3://{bucket}/{fields.get('Key', '?')}: delete failed: "
                f"{fields.get('Code', '')} {fields.get('Message', '')}".rstrip()
            )
    return failures


def parse_error(body: bytes) -> tuple[str, str]:
    """The code and message of an S3 error body (empty strings when there is none)."""
    code = CODE_PATTERN.search(body)
    message = MESSAGE_PATTERN.search(body)
    return (code[1].decode() if code else "", message[1].decode() if message else "")


def _escape(text: str) -> str:
    return "".join(XML_ESCAPES.get(char, char) for char in text)


def parse_initiate(body: bytes) -> tuple[str, str | None]:
    """A CreateMultipartUpload reply: its root element's name (S3's is
    ``InitiateMultipartUploadResult``) and the upload id, found under any root."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", None
    name = root.tag.rpartition("}")[2]
    upload_id = next(
        (child.text for child in root if child.tag.rpartition("}")[2] == "UploadId"), None
    )
    return name, upload_id
