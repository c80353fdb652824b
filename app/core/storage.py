"""Blob storage on a local (or shared, mounted) filesystem, addressed by relative keys."""

import shutil
import uuid
from pathlib import Path, PurePosixPath


class LocalStorage:
    """Keys are relative POSIX paths such as ``datasets/ds_x/images.npy`` below one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        relative = PurePosixPath(key)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"storage key must be relative and inside the store: {key!r}")
        return self.root.joinpath(*relative.parts)

    def staging_dir(self) -> Path:
        """A fresh private directory on the same filesystem, so finished work can be renamed into place."""
        path = self.root / ".staging" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def publish(self, staged: Path, key: str) -> Path:
        """Atomically move a staged directory to ``key`` (which must not exist yet)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(target)
        return target

    def put_file(self, local_path: Path, key: str) -> None:
        """Store a local file's bytes at ``key`` (replacing what was there); the local file is left as it was."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        shutil.copyfile(local_path, partial)
        partial.rename(target)  # readers see the old bytes or the new, never half

    def fetch_file(self, key: str, local_path: Path) -> None:
        shutil.copyfile(self.path(key), local_path)

    def delete(self, key: str) -> None:
        """Remove a key or a whole prefix; a missing one is not an error."""
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def size_bytes(self, key: str) -> int:
        return directory_bytes(self.path(key))


def directory_bytes(path: Path) -> int:
    """What the files below ``path`` take; 0 when it does not exist. Files removed while counting are skipped."""
    total = 0
    for item in path.rglob("*"):
        try:
            total += item.stat().st_size if item.is_file() else 0
        except FileNotFoundError:
            continue
    return total
