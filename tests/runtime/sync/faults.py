"""A moto S3 server with a fault-injecting front: throttling, corruption, delays, and counts.

The CRT client makes real HTTP requests, so faults are injected where it cannot tell them from
S3's own: a WSGI middleware in front of moto's app answers ``503 SlowDown`` with S3's XML,
flips a byte in an object's body, or holds a response back, and counts the body reads per key.
Subprocesses that point at the server are counted too.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
StartResponse = Callable[..., Any]


@dataclass
class Faults:
    """What the front does to requests; tests set fields and read the counters."""

    # GETs of object bodies, by "bucket/key" (listings are not counted).
    reads: Counter[str] = field(default_factory=Counter)
    # Answer 503 SlowDown to the first N requests of each matching key ("bucket/key" regex).
    throttle_pattern: str | None = None
    throttle_first: int = 0
    throttled: Counter[str] = field(default_factory=Counter)
    # Flip one byte in bodies of matching keys.
    corrupt_pattern: str | None = None
    # ... and answer them with S3's composite checksum of a multipart upload ("...-N"), which
    # clients do not validate.
    composite_checksums: bool = False
    # Hold each body GET back this long before answering (to catch a sync mid-flight).
    read_delay: float = 0.0
    # Hold each part of a multipart upload back this long (to catch an upload mid-flight).
    part_delay: float = 0.0
    # Answer CreateMultipartUpload as rclone serve s3 does: root <InitiateMultipartUpload>.
    rclone_initiate: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.reads.clear()
            self.throttled.clear()
            self.throttle_pattern = self.corrupt_pattern = None
            self.throttle_first = 0
            self.read_delay = self.part_delay = 0.0
            self.composite_checksums = False
            self.rclone_initiate = False


class FaultFront:
    def __init__(self, app: Any, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        faults = self.faults
        method = environ["REQUEST_METHOD"]
        name = unquote(environ.get("PATH_INFO", "")).lstrip("/")
        is_object = "/" in name
        query = environ.get("QUERY_STRING", "")
        body_read = method == "GET" and is_object and "list-type" not in query
        with faults.lock:
            if body_read:
                faults.reads[name] += 1
            pattern = faults.throttle_pattern
            throttle = (
                pattern is not None
                and re.search(pattern, name) is not None
                and faults.throttled[name] < faults.throttle_first
            )
            if throttle:
                faults.throttled[name] += 1
            corrupt = (
                body_read
                and faults.corrupt_pattern is not None
                and re.search(faults.corrupt_pattern, name) is not None
            )
            delay = faults.read_delay if body_read else 0.0
            if method == "PUT" and "partNumber=" in query:
                delay = faults.part_delay
        if throttle:
            _drain(environ)
            start_response(
                "503 Slow Down",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(SLOW_DOWN)))],
            )
            return [SLOW_DOWN]
        if delay:
            time.sleep(delay)
        if corrupt:
            return self._corrupted(environ, start_response)
        if faults.rclone_initiate and method == "POST" and query.split("&")[0] == "uploads":
            return self._rclone_initiate(environ, start_response)
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _rclone_initiate(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        body = body.replace(b"InitiateMultipartUploadResult", b"InitiateMultipartUpload")
        headers = [
            (k, str(len(body)) if k.lower() == "content-length" else v)
            for k, v in captured["headers"]
        ]
        start_response(captured["status"], headers)
        return [body]

    def _corrupted(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda _data: None

        body = bytearray(b"".join(self.app(environ, capture)))
        if body and captured["status"].startswith("2"):
            body[len(body) // 2] ^= 0xFF
        headers: list[tuple[str, str]] = captured["headers"]
        if self.faults.composite_checksums:
            headers = [
                (k, f"{v}-3" if k.lower().startswith("x-amz-checksum-crc") else v)
                for k, v in headers
            ]
        start_response(captured["status"], headers)
        return [bytes(body)]


def _drain(environ: dict[str, Any]) -> None:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)


@dataclass
class FaultyServer:
    endpoint: str
    faults: Faults
    server: BaseWSGIServer


def start_server() -> Iterator[FaultyServer]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    faults = Faults()
    app = FaultFront(DomainDispatcherApplication(create_backend_app), faults)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield FaultyServer(f"http://127.0.0.1:{port}", faults, server)
    finally:
        server.shutdown()
        thread.join()
