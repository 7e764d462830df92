"""Files on the local side, handled as untrusted: read only what was listed, write through no link.

A job writes anything it likes in its working dir before stage-out, so the sending side opens
each file with ``O_NOFOLLOW`` and checks the open descriptor: a regular file with one name,
the very file the listing saw (same device and inode). The client then reads that descriptor
(through ``/proc/self/fd`` where there is one), not whatever the path names by then.

The receiving side writes each file under a partial name in a private directory *next to* the
destination — outside the tree, so no name in the tree can be taken for a partial file or
collide with one — and renames it into place once verified. Every directory between the
destination's root and a file is created or checked without following links, and checked
again, by identity, just before the rename: a symbolic link in the tree is refused, never
written through. A link at a file's own name is replaced by the rename, not followed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import socket
import stat
import threading
import time
from pathlib import Path

from runtime.sync.errors import RefusedFile, SyncFailed, TransientSyncError
from runtime.sync.listing import Entry, refusal

PARTIALS_SUFFIX = ".sync-partials"
# Partials of a process that died are removed by the next sync; on a file system shared by
# several machines (EFS), a partial untouched this long is taken for dead too.
ORPHAN_AGE_SECONDS = 15 * 60
# The partial directory is named after the destination; a name longer than this many bytes
# is shortened to a prefix and a hash of the whole (names are limited to 255 bytes).
MAX_NAME = 160
SHORT_PREFIX = 60
CACHED_FILE_MODE = 0o444

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_sequence = itertools.count()
# Where this process can reopen one of its descriptors by path (Linux, Lambda, containers).
_PROC_FD = os.path.isdir("/proc/self/fd")
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


# -- the sending side -------------------------------------------------------------------------


class ListedFile:
    """A source file opened as listed; ``path`` names the open file itself where possible."""

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = f"/proc/self/fd/{fd}" if _PROC_FD else path
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        os.close(self.fd)


def open_listed(path: str, entry: Entry) -> ListedFile:
    """Open the file the listing saw at ``path`` for reading, or raise why not.

    :class:`RefusedFile` (not retryable) for a link, a hard link, a device, a FIFO, a socket,
    or a file other than the one listed; :class:`TransientSyncError` when it changed size.
    """
    if entry.refused is not None:
        raise RefusedFile(refused_message(path, entry.refused))
    try:
        # O_NONBLOCK: a FIFO swapped in after the listing must not block the open.
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise RefusedFile(refused_message(path, "a symbolic link")) from None
        raise
    try:
        info = os.fstat(fd)
        reason = refusal(info, sending=True)
        if reason is not None:
            raise RefusedFile(refused_message(path, reason))
        if entry.ino is not None and (info.st_dev, info.st_ino) != (entry.dev, entry.ino):
            raise RefusedFile(refused_message(path, "not the file listed (replaced since)"))
        if info.st_size != entry.size:
            raise TransientSyncError(
                f"{path}: changed while the sync ran ({entry.size} bytes listed, "
                f"{info.st_size} now)"
            )
    except BaseException:
        os.close(fd)
        raise
    return ListedFile(fd, path)


def refused_message(path: object, reason: str) -> str:
    return f"{path}: refused: {reason}; only regular files inside the source are sent"


# -- the receiving side -----------------------------------------------------------------------


def partials_directory(root: Path, *, single: bool) -> Path:
    """The private directory next to ``root`` (a tree, or a single file) for its partials.

    Next to where the tree really is (``root`` may be a link the caller named), so that a
    rename from there into the tree stays on one file system.
    """
    place = (
        Path(os.path.realpath(root.parent)) / root.name if single else Path(os.path.realpath(root))
    )
    name = place.name or "root"
    encoded = os.fsencode(name)
    if len(encoded) > MAX_NAME:
        name = _byte_prefix(encoded, SHORT_PREFIX) + hashlib.sha256(encoded).hexdigest()[:16]
    return place.with_name(f".{name}{PARTIALS_SUFFIX}")


def _byte_prefix(encoded: bytes, limit: int) -> str:
    """At most ``limit`` bytes of a file name, cut between (UTF-8) characters."""
    cut = min(limit, len(encoded))
    while 0 < cut < len(encoded) and encoded[cut] & 0xC0 == 0x80:
        cut -= 1
    return os.fsdecode(encoded[:cut])


class Partials:
    """The partial files of one destination, in its private directory (made on first use,
    removed when a sync leaves it empty). Every name there is a partial file, named
    ``<host>-<pid>-<sequence>`` so that a later sync can tell whose writer is gone."""

    def __init__(self, root: Path, *, single: bool) -> None:
        self.directory = partials_directory(root, single=single)
        self._text = str(self.directory)

    def create(self) -> tuple[str, int]:
        """A new, empty partial file: its path and a descriptor open for writing."""
        for _ in range(8):
            path = f"{self._text}/{_HOST}-{os.getpid()}-{next(_sequence)}"
            try:
                return path, os.open(path, _CREATE_FLAGS, 0o666)
            except FileExistsError:
                continue  # a dead process of the same id left one: take the next number
            except FileNotFoundError:
                self._make()  # not made yet, or removed by another sync as it emptied
        raise SyncFailed(f"{self.directory}: could not create a partial file there")

    def new_path(self) -> str:
        """A new, empty partial file for a client that opens it by path itself."""
        path, fd = self.create()
        os.close(fd)
        return path

    def _make(self) -> None:
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.directory, 0o700)
        info = os.lstat(self.directory)
        if not stat.S_ISDIR(info.st_mode):
            raise RefusedFile(
                f"{self.directory}: refused: {refusal(info, sending=False)} where the sync "
                "keeps its partial files"
            )

    def remove_orphans(self, *, all_of_them: bool = False) -> int:
        """Remove partial files whose writer is gone; ``all_of_them`` when the caller holds the
        destination's lock (no one else can be writing). Removes the directory when it is left
        empty. Returns how many files were removed."""
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return 0  # none (or not a directory of ours: never cleaned through a link)
        removed = 0
        now = time.time()
        try:
            with os.scandir(fd) as scan:
                names = [entry.name for entry in scan]
            for name in names:
                if all_of_them or _orphaned(name, fd, now):
                    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                        os.unlink(name, dir_fd=fd)
                        removed += 1
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.rmdir(self.directory)  # only when empty: another sync may be writing there
        return removed


def _orphaned(name: str, directory: int, now: float) -> bool:
    host, _, rest = name.partition("-")
    pid = rest.partition("-")[0]
    if host == _HOST and pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # someone else's live process
    try:
        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return now - info.st_mtime > ORPHAN_AGE_SECONDS


Identity = tuple[int, int]  # (st_dev, st_ino) of a directory


class Placer:
    """Puts verified files into a destination (a tree, or a single file) without ever
    writing through a link below its root.

    ``directory(relpath)`` makes sure the directory that will hold ``relpath`` exists and is
    a real directory all the way down from the root (created, or ``lstat``-checked, once per
    directory and sync) and returns its identity; ``place`` renames a partial file into
    place after checking that the path still leads to that same directory. ``read_only``
    (the shared cache): placed files are made read-only first.
    """

    def __init__(self, root: Path, *, single: bool, read_only: bool = False) -> None:
        self._root = str(root)
        self._single = single
        # The one directory that may be reached through a link: the root the caller named
        # (or a single file's directory).
        self._top = os.path.dirname(self._root) if single else self._root
        self.partials = Partials(root, single=single)
        self._read_only = read_only
        self._known: dict[str, Identity] = {}

    def final(self, relpath: str) -> str:
        return f"{self._root}/{relpath}" if relpath else self._root

    def directory(self, relpath: str) -> Identity:
        return self._ensure(os.path.dirname(self.final(relpath)))

    def _ensure(self, directory: str) -> Identity:
        known = self._known.get(directory)
        if known is not None:
            return known
        if directory == self._top or len(directory) <= len(self._top):
            os.makedirs(directory, exist_ok=True)
            info = os.stat(directory)
            if not stat.S_ISDIR(info.st_mode):
                raise SyncFailed(f"{directory}: not a directory")
        else:
            self._ensure(os.path.dirname(directory))
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory)
            info = os.lstat(directory)
            if not stat.S_ISDIR(info.st_mode):
                reason = refusal(info, sending=False) or "a file where a directory should be"
                raise RefusedFile(_write_refused(directory, reason))
        identity = (info.st_dev, info.st_ino)
        self._known[directory] = identity
        return identity

    def place(self, partial: str, relpath: str, directory: Identity) -> None:
        """Rename ``partial`` to ``relpath``'s final name, in the directory checked before."""
        final = self.final(relpath)
        parent = os.path.dirname(final)
        try:
            info = os.stat(parent)
        except FileNotFoundError:
            info = None
        if info is None or (info.st_dev, info.st_ino) != directory:
            raise RefusedFile(_write_refused(parent, "replaced while the sync ran"))
        if self._read_only:
            os.chmod(partial, CACHED_FILE_MODE)
        try:
            os.replace(partial, final)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise SyncFailed(
                    f"{final}: on another file system than {self.partials.directory}, where "
                    "the sync keeps partial files: sync into that file system's directory"
                ) from None
            raise


def _write_refused(path: str, reason: str) -> str:
    return f"{path}: refused: {reason} in the destination; the sync writes through no link"
