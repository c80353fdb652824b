"""Blob storage on a local (or shared, mounted) filesystem: the embedded mode, read in place."""

import os
import shutil
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import SplitResult, unquote

from app.core.storage.base import Storage, StoredObject, check_key
from app.core.storage.registry import Backend, StorageOptions, register_backend

STAGING = ".staging"  # below the root, so a publish is a rename on one filesystem


class LocalStorage(Storage):
    """Keys are relative POSIX paths such as ``datasets/ds_x/images.npy`` below one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging_root = root / STAGING
        self.description = f"file://{root}"

    def path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put_file(self, local_path: Path, key: str) -> None:
        target = self.path(key)
        if target.exists() and target.samefile(local_path):
            return  # the file is already where the store keeps it (a job's workdir in embedded mode)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        shutil.copyfile(local_path, partial)
        os.replace(partial, target)

    def fetch_file(self, key: str, local_path: Path) -> None:
        source = self._stored(key)
        if local_path.exists() and local_path.samefile(source):
            return
        partial = local_path.with_name(f".{local_path.name}.{uuid.uuid4().hex}")
        shutil.copyfile(source, partial)
        os.replace(partial, local_path)

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return cast(AbstractContextManager[BinaryIO], self._stored(key).open("rb"))

    def _stored(self, key: str) -> Path:
        """The object's file; a missing one is named by its key, not by this host's paths (messages reach users)."""
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object stored at {key!r}")
        return path

    def list(self, prefix: str) -> list[StoredObject]:
        found = []
        for item in sorted(self.path(prefix).rglob("*")):
            try:
                stat = item.stat()
            except FileNotFoundError:
                continue  # removed while we looked
            if item.is_file() and not item.name.startswith("."):
                key = item.relative_to(self.root).as_posix()
                found.append(StoredObject(key, stat.st_size, f"{stat.st_mtime_ns}-{stat.st_size}"))
        return found

    def delete(self, key: str) -> None:
        """Remove the object or everything below the prefix ``key``, then the folders this left empty (but never
        a top-level one such as ``datasets/``: another process may be publishing into it right now)."""
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        for parent in target.parents:
            if self.root in (parent, parent.parent) or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or already gone): the folders above are in use too
                break

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def publish(self, staged: Path, prefix: str) -> None:
        """Atomically move a staged directory to ``prefix`` (which must not exist yet)."""
        target = self.path(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(target)

    def size_bytes(self, prefix: str) -> int:
        return directory_bytes(self.path(prefix))

    def local_dir(self, prefix: str) -> Path:
        return self.path(prefix)


def directory_bytes(path: Path) -> int:
    """What the files below ``path`` take; 0 when it does not exist. Files removed while counting are skipped."""
    total = 0
    for item in path.rglob("*"):
        try:
            total += item.stat().st_size if item.is_file() else 0
        except FileNotFoundError:
            continue
    return total


def _check(url: SplitResult) -> None:
    if url.netloc not in ("", "localhost") or not url.path.startswith("/"):
        raise ValueError(f"SELFSUP_STORAGE_URL must be file:///absolute/path, got {url.geturl()!r}")


def _open(url: SplitResult, options: StorageOptions) -> Storage:
    return LocalStorage(Path(unquote(url.path)))


register_backend("file", Backend(check=_check, open=_open))
