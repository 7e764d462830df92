"""Where a large download's body goes: written in small pieces, hashed on the way.

Two measured reasons not to let the CRT write large objects itself (``recv_filepath``):

- it writes each part (8 MiB) with one ``pwrite``, and on this kind of VM the kernel spends
  ~3 ms of system time per MiB on such large page-cache writes once memory has seen some use,
  against ~0.3 ms per MiB for 32 KiB writes (s5cmd's size): 1.5 s against 0.5 s of system
  time for 512 MiB;
- the CRT delivers the body in order to ``on_body``, so the MD5 an ETag calls for can be
  computed while the bytes arrive instead of by reading the whole file again afterwards.

The CRT's callback only copies the chunk and queues it; per download one thread writes and
another hashes (both drop the GIL), so the client's event loop is never held up by the disk or
the hash, and a large object's MD5 — one core's work, the bound for a single object — runs
beside its writes rather than after each of them. The copies
queued across all downloads take their bytes from the client's budget
(:mod:`runtime.sync.budget`): when writers fall behind the network, the callback waits for one
of them rather than memory growing with the objects in flight.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from runtime.sync.budget import ByteBudget

SLICE = 32 * 1024
# Chunks (parts) queued per download before the client's callback waits for the writer.
QUEUE_DEPTH = 4
# Downloads streamed at once (a thread each); beyond this the CRT writes the file itself.
MAX_STREAMS = 16

_streams = threading.BoundedSemaphore(MAX_STREAMS)

Finished = Callable[[str | None, BaseException | None], None]


class StreamSink:
    def __init__(
        self,
        path: str,
        *,
        md5: bool,
        on_written: Callable[[int], None] | None = None,
        budget: ByteBudget | None = None,
        md5_part_size: int | None = None,
    ) -> None:
        self._budget = budget
        # With a part size: the MD5 of each part, for a multipart ETag ("<md5 of md5s>-N").
        self._part_size = md5_part_size
        self._part_left = md5_part_size or 0
        self._part_digests = bytearray()
        self._parts = 0
        # Never through a link: the partial file is the engine's own (see localfs).
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
        self._md5: Any = hashlib.md5() if md5 else None
        # Progress: the bytes on disk, piece by piece (the CRT's own reports come a second
        # apart at best, see runtime.cli.progress).
        self._on_written: Callable[[int], None] = on_written or (lambda _count: None)
        self._expected_offset = 0
        self._chunks: queue.Queue[tuple[bytes, int, int] | None] = queue.Queue(QUEUE_DEPTH)
        # Written chunks on their way to the hasher, which gives their bytes back.
        self._hashing: queue.Queue[tuple[bytes, int, int] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._then: Finished = lambda _md5, _error: None
        self._thread = threading.Thread(target=self._drain, name="sync-sink", daemon=True)
        self._hasher = threading.Thread(target=self._digest, name="sync-hash", daemon=True)
        self._hasher.start()
        self._thread.start()

    @classmethod
    def open(
        cls,
        path: str,
        *,
        md5: bool,
        on_written: Callable[[int], None] | None = None,
        budget: ByteBudget | None = None,
        md5_part_size: int | None = None,
    ) -> StreamSink | None:
        """A sink for ``path``, or None when enough downloads are streaming already.
        ``md5``: hash the body in order, as a whole or (``md5_part_size``) part by part."""
        if not _streams.acquire(blocking=False):
            return None
        try:
            return cls(
                path, md5=md5, on_written=on_written, budget=budget, md5_part_size=md5_part_size
            )
        except BaseException:
            _streams.release()
            raise

    def on_body(self, chunk: Any, offset: int, **_: object) -> None:
        """The CRT's body callback: copy the chunk (its buffer is reused) and queue it."""
        held = self._budget.take(len(chunk)) if self._budget is not None else 0
        self._chunks.put((bytes(chunk), offset, held))

    def finish(self, then: Finished) -> None:
        """The body is complete (or abandoned): once the writer has caught up, it calls
        ``then(md5, error)`` — on its own thread, so the client's is not held up — with the
        MD5 (hex) if the body was hashed in order, and the writer's error (a full disk, say)."""
        self._then = then
        self._chunks.put(None)

    def _drain(self) -> None:
        try:
            while (item := self._chunks.get()) is not None:
                data, offset, held = item
                try:
                    if self._error is None:  # else keep taking chunks: the client never blocks
                        self._write(data, offset)
                except OSError as exc:
                    self._error = exc
                # The hasher gives the bytes back once it has hashed them.
                self._hashing.put((data, offset, held))
                del data, item
        finally:
            self._hashing.put(None)
            try:
                os.close(self._fd)
            finally:
                self._hasher.join()
                _streams.release()
        self._then(self._etag() if self._error is None else None, self._error)

    def _digest(self) -> None:
        while (item := self._hashing.get()) is not None:
            data, offset, held = item
            try:
                if self._md5 is not None and self._error is None:
                    if offset == self._expected_offset:
                        self._hash(memoryview(data))
                        self._expected_offset += len(data)
                    else:  # not in order after all: the caller hashes the finished file
                        self._md5 = None
            finally:
                del data, item
                if self._budget is not None:
                    self._budget.give_back(held)

    def _etag(self) -> str | None:
        """The body's MD5 (hex) or, by parts, the multipart ETag it gives; None if not hashed."""
        if self._md5 is None:
            return None
        if self._part_size is None:
            return str(self._md5.hexdigest())
        if self._part_left != self._part_size or not self._parts:  # a last, shorter part
            self._part_digests += self._md5.digest()
            self._parts += 1
        return f"{hashlib.md5(self._part_digests).hexdigest()}-{self._parts}"

    def _hash(self, view: memoryview) -> None:
        if self._part_size is None:
            self._md5.update(view)
            return
        while view:
            taken = view[: self._part_left]
            self._md5.update(taken)
            self._part_left -= len(taken)
            view = view[len(taken) :]
            if not self._part_left:
                self._part_digests += self._md5.digest()
                self._parts += 1
                self._md5 = hashlib.md5()
                self._part_left = self._part_size

    def _write(self, data: bytes, offset: int) -> None:
        view = memoryview(data)
        for start in range(0, len(view), SLICE):
            os.pwrite(self._fd, view[start : start + SLICE], offset + start)
        self._on_written(len(view))
