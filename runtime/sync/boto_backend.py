"""The boto3 path: an :class:`~runtime.sync.backend.S3Backend` on a caller's boto3 client.

Slower than the CRT path (botocore's per-request CPU bounds it), but it takes any client —
moto's in-process mock, a client with custom credentials or hooks — and needs nothing else.
Transfers run on a small thread pool through s3transfer, which does multipart and retries.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig

from runtime.sync.backend import BytesCallback, DoneCallback
from runtime.sync.errors import TransferCancelledError, as_sync_error, from_client_error
from runtime.sync.listing import Entry
from runtime.sync.multipart import part_size_for
from runtime.sync.settings import S3Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1 << 20


def is_full_object_checksum(name: str, value: object) -> bool:
    """Whether a ``Checksum*`` field of a reply is one a client validates: a composite
    checksum of a multipart upload ends in ``-<parts>`` and is skipped by botocore."""
    return (
        name.startswith("Checksum")
        and name != "ChecksumType"
        and isinstance(value, str)
        and "-" not in value
    )


class BotoTransfer:
    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.cancelled = False

    def cancel(self) -> None:
        # A running boto3 call cannot be interrupted from outside: the transfer's own progress
        # callback raises at its next chunk (s3transfer then aborts a multipart upload), and
        # a result that arrives anyway is discarded.
        self.cancelled = True

    def check(self) -> None:
        if self.cancelled:
            raise TransferCancelledError(self.subject)


class BotoBackend:
    def __init__(self, client: S3Client, config: S3Config | None = None, workers: int = 16) -> None:
        self.client = client
        self.config = config or S3Config()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-boto")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[Entry]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        pages = self.client.get_paginator("list_objects_v2").paginate(**kwargs)
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    algorithms = item.get("ChecksumAlgorithm") or []
                    yield Entry(
                        item["Key"],
                        item["Size"],
                        etag=item.get("ETag", "").strip('"') or None,
                        checksum_algorithm=algorithms[0] if algorithms else None,
                    )
        except self.client.exceptions.ClientError as exc:
            raise from_client_error(exc, f"s3://{bucket}/{prefix}") from exc

    def head_object(self, bucket: str, key: str) -> Entry | None:
        try:
            reply = self.client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise from_client_error(exc, f"s3://{bucket}/{key}") from exc
        algorithm = next(
            (name[len("Checksum") :] for name in reply if name.startswith("ChecksumCRC")), None
        ) or ("SHA256" if "ChecksumSHA256" in reply else None)
        return Entry(
            key,
            reply["ContentLength"],
            etag=reply.get("ETag", "").strip('"') or None,
            checksum_algorithm=algorithm,
        )

    def first_part_size(self, bucket: str, key: str, parts: int) -> int | None:
        try:
            reply = self.client.head_object(Bucket=bucket, Key=key, PartNumber=1)
        except self.client.exceptions.ClientError as exc:
            raise from_client_error(exc, f"s3://{bucket}/{key}") from exc
        if reply.get("PartsCount") != parts:
            return None  # not a multipart object (any more), or S3 ignored partNumber
        return reply["ContentLength"]

    def download(
        self, bucket: str, obj: Entry, path: str, on_bytes: BytesCallback, on_done: DoneCallback
    ) -> BotoTransfer:
        # One streamed GET (s3transfer's download_file cannot send If-Match): the fallback
        # path favours simplicity over ranged parallel reads of one large object.
        extra: dict[str, Any] = {"ChecksumMode": "ENABLED"}
        if obj.etag:
            extra["IfMatch"] = f'"{obj.etag}"'

        def run(transfer: BotoTransfer) -> bool:
            reply = self.client.get_object(Bucket=bucket, Key=obj.relpath, **extra)
            body = reply["Body"]
            # Never through a link: the partial file is the engine's own (see localfs).
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
            with open(fd, "wb") as handle:
                while chunk := body.read(CHUNK):
                    transfer.check()
                    handle.write(chunk)
                    on_bytes(len(chunk))
            # botocore validated a full-object checksum as it streamed, when S3 holds one; it
            # skips the composite checksum of a multipart upload ("...-N"): not validated.
            return bool(obj.checksum_algorithm) and any(
                is_full_object_checksum(name, value) for name, value in reply.items()
            )

        return self._submit(run, f"s3://{bucket}/{obj.relpath}", on_done)

    def upload(
        self,
        path: str,
        bucket: str,
        key: str,
        size: int,
        on_bytes: BytesCallback,
        on_done: DoneCallback,
    ) -> BotoTransfer:
        extra = {
            "ContentType": mimetypes.guess_type(key)[0] or "application/octet-stream",
            "ChecksumAlgorithm": "CRC32C",
        }
        config = TransferConfig(
            multipart_threshold=self.config.multipart_threshold,
            multipart_chunksize=part_size_for(size, self.config.part_size),
            use_threads=False,  # our pool is the concurrency; one thread per object
        )

        def run(transfer: BotoTransfer) -> bool:
            def progress(sent: int) -> None:
                transfer.check()  # cancelled: s3transfer fails the upload, and aborts it
                on_bytes(sent)

            self.client.upload_file(
                path, bucket, key, ExtraArgs=extra, Callback=progress, Config=config
            )
            return False

        return self._submit(run, f"s3://{bucket}/{key}", on_done)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[str]:
        if not keys:
            return []
        try:
            reply = self.client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        except self.client.exceptions.ClientError as exc:
            raise from_client_error(exc, f"s3://{bucket}") from exc
        return [
            f"s3://{bucket}/{error.get('Key', '?')}: delete failed: {error.get('Code', '')}"
            for error in reply.get("Errors", ())
        ]

    def _submit(
        self, work: Callable[[BotoTransfer], bool], subject: str, on_done: DoneCallback
    ) -> BotoTransfer:
        transfer = BotoTransfer(subject)

        def run() -> None:
            if transfer.cancelled:
                on_done(TransferCancelledError(subject), False)
                return
            try:
                validated = work(transfer)
            except Exception as exc:  # botocore and s3transfer errors, file errors
                on_done(as_sync_error(exc, subject), False)
            else:
                if transfer.cancelled:
                    on_done(TransferCancelledError(subject), False)
                else:
                    on_done(None, validated)

        self._pool.submit(run)
        return transfer
