"""The sync benchmarks' data sets: so many files of so many random bytes, built once per run."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

CHUNK = 2**20


@dataclass(frozen=True)
class DataSet:
    name: str
    files: int
    size: int  # bytes per file
    resync: bool = False  # also timed: a second, nothing-to-do sync of the same tree

    @property
    def total(self) -> int:
        return self.files * self.size

    def describe(self) -> str:
        if self.size >= 2**30 and self.size % 2**30 == 0:
            unit = f"{self.size // 2**30} GiB"
        elif self.size >= 2**20:
            unit = f"{self.size // 2**20} MiB"
        else:
            unit = f"{self.size // 1024} KiB"
        return f"{self.files} × {unit}"


def build(data: DataSet, directory: Path) -> dict[str, str]:
    """Write the data set into ``directory``; returns each file's SHA-256, to check downloads."""
    directory.mkdir(parents=True)
    digests = {}
    for index in range(data.files):
        name = f"{data.name}-{index:06d}.bin"
        digest = hashlib.sha256()
        with (directory / name).open("wb") as handle:
            left = data.size
            while left:
                block = os.urandom(min(CHUNK, left))
                handle.write(block)
                digest.update(block)
                left -= len(block)
        digests[name] = digest.hexdigest()
    return digests


def check(directory: Path, digests: dict[str, str]) -> None:
    """Raise unless ``directory`` holds exactly the data set's files (hidden ones aside)."""
    found = {
        path.name: _sha256(path)
        for path in directory.iterdir()
        if path.is_file() and not path.name.startswith(".")
    }
    if found != digests:
        raise RuntimeError(f"download into {directory} does not match its data set")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def tree_state(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Each file under ``directory``: inode, change time and size. Rewriting, replacing or
    touching a file changes its entry (the change time cannot be set from user space)."""
    state = {}
    for root, _, names in os.walk(directory):
        for name in names:
            stat = os.stat(os.path.join(root, name))
            state[os.path.join(root, name)] = (stat.st_ino, stat.st_ctime_ns, stat.st_size)
    return state
