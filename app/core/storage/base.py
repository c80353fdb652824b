"""The storage interface every backend implements: blobs addressed by relative keys, staged work published whole.

Keys are relative POSIX paths such as ``datasets/ds_x/images.npy``; a "prefix" is a key naming a folder of
them (``datasets/ds_x``). Callers never learn where the bytes live: they stage work in a local directory,
publish it, and read it back through :mod:`app.core.cache`, which hands the engine local files to memory-map.
"""

import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO


class StorageError(Exception):
    """The store could not do what was asked (unreachable, refused); the message names the store."""


class UnsafeKey(ValueError):
    """A key that would reach outside the store (``..``, absolute, empty)."""


@dataclass(frozen=True)
class StoredObject:
    """One object under a prefix: its full key, its size, and a tag that changes when its bytes do."""

    key: str
    size: int
    etag: str


def check_key(key: str) -> str:
    """``key`` in its normal form, or :class:`UnsafeKey` when it could escape the store."""
    relative = PurePosixPath(key)
    if not key or relative.is_absolute() or ".." in relative.parts or "\\" in key or relative.parts == ():
        raise UnsafeKey(f"storage key must be relative and inside the store: {key!r}")
    return relative.as_posix()


def relative_key(prefix: str, key: str) -> str:
    """``datasets/ds_x/images.npy`` under ``datasets/ds_x`` -> ``images.npy``."""
    return PurePosixPath(key).relative_to(prefix).as_posix()


class Storage(ABC):
    """Blob storage. Every method takes keys through :func:`check_key`."""

    description: str  # where the store is, for messages: "file:///srv/blobs", "s3://bucket/prefix at <endpoint>"

    @abstractmethod
    def put_file(self, local_path: Path, key: str) -> None:
        """Store the local file ``local_path`` at ``key``, replacing what was there."""

    @abstractmethod
    def fetch_file(self, key: str, local_path: Path) -> None:
        """Copy ``key`` to ``local_path`` (written whole or not at all). FileNotFoundError when absent."""

    @abstractmethod
    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Read ``key`` as a stream, without a local copy. FileNotFoundError when absent."""

    @abstractmethod
    def list(self, prefix: str) -> list[StoredObject]:
        """Every object below ``prefix``, sorted by key; empty when there is none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object ``key`` or everything below the prefix ``key``; nothing there is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether the object ``key`` is stored."""

    staging_root: Path  # a local folder (on the store's filesystem for the local backend: publish is a rename)

    def staging_dir(self, name: str | None = None) -> Path:
        """A fresh private local directory to stage work in before :meth:`publish`.

        ``name`` (a job attempt's, say) lets whoever comes next find and remove what a dead process left; an
        existing directory of that name is such a leftover and is emptied first.
        """
        path = self.staging_root / (name or uuid.uuid4().hex)
        if name is not None:
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def clear_staging(self, prefix: str) -> None:
        """Remove the staging directories whose names start with ``prefix`` (a dead attempt's work)."""
        if not prefix or "/" in prefix:
            raise ValueError(f"a staging prefix is one name's beginning: {prefix!r}")
        for path in self.staging_root.glob(f"{prefix}*"):
            shutil.rmtree(path, ignore_errors=True)

    @abstractmethod
    def publish(self, staged: Path, prefix: str) -> None:
        """Make the staged directory's files visible below ``prefix`` (which must not exist yet); ``staged``
        is consumed."""

    def size_bytes(self, prefix: str) -> int:
        """What the objects below ``prefix`` take; 0 when there is none."""
        return sum(item.size for item in self.list(prefix))

    def local_dir(self, prefix: str) -> Path | None:
        """Where ``prefix`` already lies as a folder on this host, if it does; then nothing need be copied."""
        return None


def staged_files(staged: Path) -> Iterator[tuple[Path, str]]:
    """(file, its key relative to ``staged``) for every file below a staged directory."""
    for path in sorted(staged.rglob("*")):
        if path.is_file():
            yield path, path.relative_to(staged).as_posix()
