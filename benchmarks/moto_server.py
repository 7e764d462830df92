"""moto's S3 server for the sync benchmark, made to answer checksum requests as S3 does.

    python -m benchmarks.moto_server PORT

moto's own server (``moto_server``), on 127.0.0.1, with two corrections where moto 5.2.5
differs from S3 in what the benchmark measures; without them no download from it would be
verified by the CRT's checksum validation, which is what this endpoint is for:

- moto returns ``x-amz-checksum-*`` only for ``x-amz-checksum-mode: ENABLED`` exactly; the CRT
  sends ``enabled`` (S3 takes either). The header's value is upper-cased on the way in.
- moto keeps the checksum of a multipart upload (CRC32 or CRC32C, checksum of the parts'
  checksums) without S3's ``-<parts>`` suffix or ``x-amz-checksum-type: COMPOSITE``, so a
  client takes it for a checksum of the whole object and finds a mismatch. Where moto says no
  type and the ETag is a multipart one, the reply says what S3 would.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

Headers = list[tuple[str, str]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
StartResponse = Callable[..., Any]
COMPOSITE_ALGORITHMS = ("x-amz-checksum-crc32", "x-amz-checksum-crc32c")


def s3_like(app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> Any:
    """``app`` (moto's WSGI application) with the two corrections above."""

    def corrected(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        mode = environ.get("HTTP_X_AMZ_CHECKSUM_MODE")
        if mode is not None:
            environ["HTTP_X_AMZ_CHECKSUM_MODE"] = mode.upper()

        def start(status: str, headers: Headers, exc_info: ExcInfo | None = None) -> Any:
            return start_response(status, composite_checksum(headers), exc_info)

        return app(environ, start)

    return corrected


def composite_checksum(headers: Headers) -> Headers:
    """The headers of a reply, a multipart object's CRC32/CRC32C marked composite as S3 does."""
    names = {name.lower(): value for name, value in headers}
    parts = names.get("etag", "").strip('"').rpartition("-")[2]
    if not parts.isdigit() or "x-amz-checksum-type" in names:
        return headers
    out: Headers = []
    for name, value in headers:
        if name.lower() in COMPOSITE_ALGORITHMS and "-" not in value:
            out.append((name, f"{value}-{parts}"))
            out.append(("x-amz-checksum-type", "COMPOSITE"))
        else:
            out.append((name, value))
    return out


def main(argv: list[str]) -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a log line per request costs time
    app = s3_like(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", int(argv[0]), app, True, request_handler=MotoRequestHandler)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
