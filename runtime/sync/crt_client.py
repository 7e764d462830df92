"""The fast path: the AWS CRT's S3 client for listing, reading and writing objects.

Why the CRT rather than boto3: botocore spends ~0.7 ms of CPU per
request under the GIL and one process tops out near 1,100 requests/s; the CRT's S3 client
does the HTTP, signing, retries and multipart work in C and costs ~0.2 ms of Python per object,
which is what it takes to match s5cmd on small objects. It also streams bodies straight
between sockets and files (``recv_filepath`` / ``send_filepath``).

Requests are addressed by hand (the CRT takes a ready HTTP request): path-style on custom
endpoints, virtual-hosted on AWS. Listing is a plain ``ListObjectsV2`` request whose XML we
parse; each page's successor is requested before the page's entries are handed out.
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote, urlsplit

from awscrt import auth, http, s3  # type: ignore[import-untyped]
from awscrt import io as crt_io

from runtime.sync.backend import BytesCallback, Cancellable, DoneCallback, S3Backend
from runtime.sync.budget import ByteBudget
from runtime.sync.errors import (
    IntegrityError,
    SyncError,
    SyncFailed,
    SyncSettingsError,
    TransferCancelledError,
    TransientSyncError,
    error_for_response,
)
from runtime.sync.listing import Entry
from runtime.sync.multipart import candidate_part_sizes, is_multipart_etag, part_size_for
from runtime.sync.s3xml import (
    delete_request,
    parse_delete_errors,
    parse_error,
    parse_initiate,
    parse_listing,
)
from runtime.sync.settings import S3Config
from runtime.sync.sink import StreamSink

DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
STATUS_CODES = {403: "AccessDenied", 404: "NoSuchKey", 412: "PreconditionFailed"}
CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"
# Objects from this size on stream through a sink (small writes, MD5 on the way).
STREAM_MIN = 4 * 2**20
# The CRT reads a single PUT's whole body into memory (a 2 GiB PUT took 2.1 GB resident):
# single PUTs larger than this stream from the file through s3transfer instead.
IN_MEMORY_PUT_MAX = 16 * 2**20
# The share of the memory limit that bodies held outside the CRT's own buffers may take: single
# PUTs' bodies and streamed downloads' queued chunks (runtime.sync.budget).
BODIES_SHARE = 4
# ... and the share that the parts of transfers in parts in flight at once may take.
PARTS_SHARE = 2
# Uploads streamed through s3transfer at once, each its parts one after another (one thread
# per object: measured, s3transfer's part threads under botocore's CRT signer printed the
# cancelled reads' tracebacks on Ctrl-C).
STREAMING_UPLOADS = 8
MD5_MISMATCH = "checksum mismatch: content does not match the ETag"
MiB = 1 << 20


class CrtTransfer:
    def __init__(self) -> None:
        self.request: Any = None  # the CRT's S3Request: kept alive until the transfer ends
        # The streamed transfer that took over (an upload the CRT could not do, see upload).
        self.fallback: Cancellable | None = None
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        if self.request is not None:
            self.request.cancel()
        if self.fallback is not None:
            self.fallback.cancel()


class CrtBackend:
    """An :class:`~runtime.sync.backend.S3Backend` on ``awscrt.s3.S3Client``."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        endpoint = urlsplit(config.endpoint_url) if config.endpoint_url else None
        tls = endpoint is None or endpoint.scheme == "https"
        self._host = endpoint.netloc if endpoint else f"s3.{config.region}.amazonaws.com"
        self._base_path = endpoint.path.rstrip("/") if endpoint else ""
        self._virtual = config.addressing_style == "virtual" or (
            config.addressing_style == "auto" and endpoint is None
        )
        bootstrap = crt_io.ClientBootstrap.get_or_create_static_default()
        credentials = auth.AwsCredentialsProvider.new_default_chain(bootstrap)
        signing = s3.create_default_s3_signing_config(
            region=config.region, credential_provider=credentials
        )
        tls_options = _tls_options(os.environ.get("AWS_CA_BUNDLE")) if tls else None
        try:
            self._client = s3.S3Client(
                bootstrap=bootstrap,
                region=config.region,
                signing_config=signing,
                tls_mode=s3.S3RequestTlsMode.ENABLED if tls else s3.S3RequestTlsMode.DISABLED,
                tls_connection_options=tls_options,
                part_size=config.part_size,
                multipart_upload_threshold=config.multipart_threshold,
                throughput_target_gbps=config.throughput_target_gbps,
                memory_limit=config.memory_limit,
                retry_config=s3.S3RetryConfig(
                    max_retries=config.max_retries,
                    backoff_scale_factor_ms=config.retry_backoff_ms,
                ),
            )
        except RuntimeError as exc:
            # S3Config checks every limit known; should the CRT refuse a combination anyway
            # (a rule of a later version), the settings are named, never a traceback.
            raise SyncSettingsError(refused_settings(exc, config)) from None
        self.bodies = ByteBudget(config.memory_limit // BODIES_SHARE)
        self.parts = ByteBudget(config.memory_limit // PARTS_SHARE)
        # Uploads the CRT cannot do well go through s3transfer, which streams from the file:
        # single PUTs too large to hold in memory, and multipart uploads on an endpoint whose
        # CreateMultipartUpload reply the CRT cannot read (rclone serve s3). Made on first use.
        self._streamer: S3Backend | None = None
        self._streamer_lock = threading.Lock()
        self.crt_multipart = True  # False once the endpoint's multipart reply failed the CRT
        self._multipart_probe: bool | None = None  # None: not probed yet

    # -- addressing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> Any:
        if self._virtual and DNS_BUCKET.match(bucket):
            host, path = f"{bucket}.{self._host}", f"{self._base_path}/{quote(key, safe='/')}"
        else:
            path = f"{self._base_path}/{bucket}" + (f"/{quote(key, safe='/')}" if key else "")
            host = self._host
        all_headers = http.HttpHeaders([("Host", host), *headers])
        if body is not None:
            all_headers.add("Content-Length", str(len(body)))
        return http.HttpRequest(
            method,
            path + (f"?{query}" if query else ""),
            all_headers,
            io.BytesIO(body) if body is not None else None,
        )

    # -- listing ------------------------------------------------------------------------------

    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[Entry]:
        subject = f"s3://{bucket}/{prefix}"
        page = self._list_page(bucket, prefix, start_after=start_after, token=None)
        while True:
            entries, token, last_key = parse_listing(_result(page, subject), subject)
            if token is None and last_key is None:
                yield from entries
                return
            # Ask for the next page now, so it travels while this one is consumed.
            page = self._list_page(
                bucket, prefix, start_after=last_key if token is None else None, token=token
            )
            yield from entries

    def _list_page(
        self, bucket: str, prefix: str, *, start_after: str | None, token: str | None
    ) -> Future[bytes]:
        params = [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url")]
        if token is not None:
            params.append(("continuation-token", token))
        elif start_after:
            params.append(("start-after", start_after))
        query = "&".join(f"{name}={quote(value, safe='-_.~')}" for name, value in params)
        return self._call("ListObjectsV2", self._request("GET", bucket, query=query))

    def _call(self, operation: str, request: Any) -> Future[bytes]:
        """A small request whose response body is wanted whole."""
        body = bytearray()
        done: Future[bytes] = Future()

        def on_body(chunk: bytes, **_: object) -> None:
            body.extend(chunk)

        def on_done(error: BaseException | None = None, **_: object) -> None:
            if error is None:
                done.set_result(bytes(body))
            else:
                done.set_exception(error)

        holder: list[Any] = []
        holder.append(
            self._client.make_request(
                type=s3.S3RequestType.DEFAULT,
                operation_name=operation,
                request=request,
                on_body=on_body,
                on_done=on_done,
            )
        )
        done.add_done_callback(lambda _: holder.clear())
        return done

    def head_object(self, bucket: str, key: str) -> Entry | None:
        received = self._head(bucket, key, headers=[("x-amz-checksum-mode", "ENABLED")])
        if received is None:
            return None
        algorithm = next(
            (
                name[len(CHECKSUM_HEADER_PREFIX) :].upper()
                for name in received
                if name.startswith(CHECKSUM_HEADER_PREFIX) and name != "x-amz-checksum-type"
            ),
            None,
        )
        return Entry(
            key,
            int(received.get("content-length", "0")),
            etag=received.get("etag", "").strip('"') or None,
            checksum_algorithm=algorithm,
        )

    def first_part_size(self, bucket: str, key: str, parts: int) -> int | None:
        received = self._head(bucket, key, query="partNumber=1")
        if received is None or received.get("x-amz-mp-parts-count") != str(parts):
            return None  # not a multipart object (any more), or S3 ignored partNumber
        return int(received.get("content-length", "0")) or None

    def _head(
        self, bucket: str, key: str, query: str = "", headers: Sequence[tuple[str, str]] = ()
    ) -> dict[str, str] | None:
        """The response headers of a HEAD (lower-case names), or None on 404."""
        subject = f"s3://{bucket}/{key}"
        received: dict[str, str] = {}

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: object) -> None:
            received.update((name.lower(), value) for name, value in headers)

        request = self._client.make_request(
            type=s3.S3RequestType.DEFAULT,
            operation_name="HeadObject",
            request=self._request("HEAD", bucket, key, query=query, headers=headers),
            on_headers=on_headers,
        )
        try:
            request.finished_future.result()
        except s3.S3ResponseError as exc:
            if exc.status_code == 404:
                return None
            raise translate(exc, subject) from exc
        except Exception as exc:
            raise translate(exc, subject) from exc
        return received

    # -- bodies -------------------------------------------------------------------------------

    def download(
        self, bucket: str, obj: Entry, path: str, on_bytes: BytesCallback, on_done: DoneCallback
    ) -> CrtTransfer:
        subject = f"s3://{bucket}/{obj.relpath}"
        headers = [("If-Match", f'"{obj.etag}"')] if obj.etag else []
        checksum = None
        if obj.checksum_algorithm:
            # One GET carries the whole object's checksum; a ranged download needs the
            # client to look it up (a HEAD), which is worth it only when S3 has one.
            mode = (
                s3.S3ChecksumValidationMode.REQUEST_ONLY
                if obj.size <= self.config.part_size
                else s3.S3ChecksumValidationMode.FULL_OBJECT
            )
            checksum = s3.S3ChecksumConfig(validate_response=True, response_validation_mode=mode)
        # Large bodies stream through a sink that writes small pieces and hashes in order
        # (see runtime.sync.sink); small ones the client writes itself, the fastest way.
        # A ranged download holds up to a part per connection in the CRT's buffers, and parts
        # that arrived early until the ones before them have: large downloads in flight at
        # once share half the budget (the CRT's own limit cannot be set below 256 MiB).
        held = self._held_parts(obj.size)
        sink = None
        if obj.size >= STREAM_MIN:
            # The ETag's MD5 on the way, where S3 holds no checksum the CRT validates: whole,
            # or part by part for a multipart ETag whose part size the size and count tell
            # (verified then without reading the file again; a wrong guess is not a mismatch,
            # the file is then verified after, as before).
            part_size = _md5_part_size(obj, self.config.part_size)
            sink = StreamSink.open(
                path,
                md5=not obj.checksum_algorithm and bool(obj.etag) and part_size != 0,
                on_written=on_bytes,
                budget=self.bodies,
                md5_part_size=part_size or None,
            )
        transfer = CrtTransfer()

        def report(error: BaseException | None, validated: bool) -> None:
            if error is None:
                on_done(None, validated)
            else:
                on_done(translate(error, subject), False)

        def finished(
            error: BaseException | None = None, did_validate_checksum: bool = False, **_: object
        ) -> None:
            transfer.request = None
            self.parts.give_back(held)
            if sink is None:
                report(error, bool(did_validate_checksum))
                return

            def written(md5: str | None, failure: BaseException | None) -> None:
                if error is not None or failure is not None:
                    report(error or failure, False)
                elif md5 is not None and md5 != obj.etag and _single_part_etag(obj.etag):
                    report(IntegrityError(f"{subject}: {MD5_MISMATCH}"), False)
                else:
                    report(None, bool(did_validate_checksum) or md5 == obj.etag)

            sink.finish(written)

        try:
            transfer.request = self._client.make_request(
                type=s3.S3RequestType.GET_OBJECT,
                request=self._request("GET", bucket, obj.relpath, headers=headers),
                recv_filepath=None if sink else path,
                on_body=sink.on_body if sink else None,
                checksum_config=checksum,
                max_active_connections_override=self.config.connections_per_object,
                on_progress=None if sink else on_bytes,  # a sink reports what it wrote
                on_done=finished,
            )
        except BaseException:
            self.parts.give_back(held)
            raise
        return transfer

    def _held_parts(self, size: int) -> int:
        """Take from the parts budget what a transfer of ``size`` bytes in parts may hold."""
        if size <= self.config.part_size:
            return 0
        return self.parts.take(
            min(size, self.config.connections_per_object * self.config.part_size)
        )

    def upload(
        self,
        path: str,
        bucket: str,
        key: str,
        size: int,
        on_bytes: BytesCallback,
        on_done: DoneCallback,
    ) -> Cancellable:
        multipart = size > self.config.multipart_threshold
        if multipart and self._multipart_probe is None:
            self._probe_multipart(bucket, key)
        if (not multipart and size > IN_MEMORY_PUT_MAX) or (multipart and not self.crt_multipart):
            return self.streamer().upload(path, bucket, key, size, on_bytes, on_done)
        transfer = CrtTransfer()
        # A single PUT's body is held whole (outside the CRT's own buffers): within budget.
        held = 0 if multipart else self.bodies.take(size)
        held_parts = self._held_parts(size) if multipart else 0

        def finished(error: BaseException | None) -> None:
            self.bodies.give_back(held)
            self.parts.give_back(held_parts)
            if error is not None and _names(error, "AWS_ERROR_S3_MISSING_UPLOAD_ID"):
                # rclone serve s3 answers CreateMultipartUpload with <InitiateMultipartUpload>
                # where S3 says <InitiateMultipartUploadResult>: the CRT finds no UploadId.
                # Nothing was sent; this upload and every later one go through s3transfer.
                self.crt_multipart = False
                if not transfer.cancelled:
                    transfer.fallback = self.streamer().upload(
                        path, bucket, key, size, on_bytes, on_done
                    )
                    if transfer.cancelled:  # cancelled meanwhile
                        transfer.fallback.cancel()
                    return
            on_done(None if error is None else translate(error, f"s3://{bucket}/{key}"), False)

        try:
            self._crt_upload(path, bucket, key, size, multipart, on_bytes, finished, transfer)
        except BaseException:
            self.bodies.give_back(held)
            self.parts.give_back(held_parts)
            raise
        return transfer

    def _crt_upload(
        self,
        path: str,
        bucket: str,
        key: str,
        size: int,
        multipart: bool,
        on_bytes: BytesCallback,
        finished: Callable[[BaseException | None], None],
        transfer: CrtTransfer,
    ) -> None:
        part = part_size_for(size, self.config.part_size)
        # S3 checks the body against this checksum and keeps it, so later downloads can be
        # verified by CRC (cheap, in C) instead of MD5.
        checksum = s3.S3ChecksumConfig(
            algorithm=s3.S3ChecksumAlgorithm.CRC32C,
            location=s3.S3ChecksumLocation.TRAILER if multipart else s3.S3ChecksumLocation.HEADER,
        )
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        headers = [("Content-Length", str(size)), ("Content-Type", content_type)]

        def done(error: BaseException | None = None, **_: object) -> None:
            transfer.request = None
            finished(error)

        transfer.request = self._client.make_request(
            type=s3.S3RequestType.PUT_OBJECT,
            request=self._request("PUT", bucket, key, headers=headers),
            send_filepath=path,
            part_size=part,
            multipart_upload_threshold=part if multipart else max(size, part),
            checksum_config=checksum,
            on_progress=on_bytes,
            on_done=done,
        )

    def _probe_multipart(self, bucket: str, key: str) -> None:
        """Before the first multipart upload: does this endpoint answer CreateMultipartUpload
        as S3 does? Asked once (an upload created and aborted at once), because the CRT,
        failing on rclone's reply, would leave the upload it cannot name behind it."""
        with self._streamer_lock:
            if self._multipart_probe is not None:
                return
            subject = f"s3://{bucket}/{key}"
            create = self._request("POST", bucket, key, query="uploads", body=b"")
            name, upload_id = parse_initiate(
                _result(self._call("CreateMultipartUpload", create), subject)
            )
            if upload_id:
                query = f"uploadId={quote(upload_id, safe='')}"
                abort = self._request("DELETE", bucket, key, query=query)
                _result(self._call("AbortMultipartUpload", abort), subject)
            self._multipart_probe = name == "InitiateMultipartUploadResult"
            if not self._multipart_probe:
                self.crt_multipart = False

    def streamer(self) -> S3Backend:
        """The s3transfer path for uploads the CRT cannot stream (boto3 imported only then)."""
        with self._streamer_lock:
            if self._streamer is None:
                self._streamer = _streaming_backend(self.config, virtual=self._virtual)
            return self._streamer

    # -- deletes ------------------------------------------------------------------------------

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[str]:
        if not keys:
            return []
        body = delete_request(keys)
        headers = [
            ("Content-MD5", base64.b64encode(hashlib.md5(body).digest()).decode()),
            ("Content-Type", "application/xml"),
        ]
        subject = f"s3://{bucket}"
        request = self._request("POST", bucket, query="delete=", headers=headers, body=body)
        reply = _result(self._call("DeleteObjects", request), subject)
        return parse_delete_errors(reply, bucket)


def _result(future: Future[bytes], subject: str) -> bytes:
    try:
        return future.result()
    except Exception as exc:
        raise translate(exc, subject) from exc


def translate(error: BaseException, subject: str) -> SyncError:
    """The engine's error for a CRT failure about ``subject``."""
    if isinstance(error, SyncError):
        return error
    name = str(getattr(error, "name", type(error).__name__))
    message = str(getattr(error, "message", error))
    if "CHECKSUM_MISMATCH" in name:
        return IntegrityError(f"{subject}: checksum mismatch: the bytes received are not S3's")
    if name == "AWS_ERROR_S3_CANCELED":
        return TransferCancelledError(subject)
    if isinstance(error, s3.S3ResponseError) and error.status_code:
        code, message = parse_error(error.body or b"")
        return error_for_response(
            subject,
            code=code or STATUS_CODES.get(error.status_code, ""),
            status=error.status_code,
            message=message,
        )
    if name.startswith(("AWS_AUTH", "AWS_ERROR_FILE", "AWS_ERROR_NO_PERMISSION")) or isinstance(
        error, OSError
    ):
        return SyncFailed(f"{subject}: {name}: {message}")
    # Connections refused or dropped, timeouts: the state machine may retry.
    return TransientSyncError(f"{subject}: {name}: {message}")


def _names(error: BaseException, name: str) -> bool:
    return str(getattr(error, "name", "")) == name


def _streaming_backend(config: S3Config, *, virtual: bool) -> S3Backend:
    """A boto3 client for the same endpoint, region and addressing, and credentials from the
    same default chain; s3transfer reads each part (or a single PUT's body) from the file as
    it sends it, so memory does not grow with the object."""
    import boto3
    from botocore.config import Config

    from runtime.sync.boto_backend import BotoBackend

    client = boto3.client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region,
        config=Config(
            s3={"addressing_style": "virtual" if virtual else "path"},
            retries={"max_attempts": config.max_retries + 1, "mode": "standard"},
            max_pool_connections=STREAMING_UPLOADS,
        ),
    )
    return BotoBackend(client, config, workers=STREAMING_UPLOADS)


def refused_settings(error: BaseException, config: S3Config) -> str:
    """One line for a client the CRT would not create: its reason, and the settings in play."""
    return (
        f"the CRT refused the sync settings ({error}): DEMAND_SYNC_MEMORY_LIMIT="
        f"{config.memory_limit // MiB}MiB, DEMAND_SYNC_PART_SIZE={config.part_size // MiB}MiB, "
        f"DEMAND_SYNC_THROUGHPUT_GBPS={config.throughput_target_gbps:g}; the memory limit must "
        "be at least 256MiB and twice the part size"
    )


def _md5_part_size(obj: Entry, preferred: int) -> int | None:
    """None: hash the body whole (a single-part ETag); the part size to hash by for a
    multipart ETag, the first of the usual ones that gives its count; 0: not on the way."""
    etag = obj.etag or ""
    if not is_multipart_etag(etag):
        return None
    count = etag.rpartition("-")[2]
    if not count.isdigit():
        return 0
    candidates = candidate_part_sizes(obj.size, int(count), extra=(preferred,))
    return candidates[0] if candidates else 0


def _single_part_etag(etag: str | None) -> bool:
    return bool(etag) and not is_multipart_etag(etag or "")


def _tls_options(ca_bundle: str | None) -> Any:
    if not ca_bundle:
        return None
    options = crt_io.TlsContextOptions()
    options.override_default_trust_store_from_path(None, ca_bundle)
    return crt_io.ClientTlsContext(options).new_connection_options()


_backends: dict[S3Config, CrtBackend] = {}
_backends_lock = threading.Lock()


def crt_backend(config: S3Config) -> CrtBackend:
    """One client per configuration and process: connections stay warm between syncs (a
    Lambda's next invocation, the local runner's parallel stage-ins)."""
    with _backends_lock:
        backend = _backends.get(config)
        if backend is None:
            backend = _backends[config] = CrtBackend(config)
        return backend
