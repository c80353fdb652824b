"""Blob storage on a local (or shared, mounted) filesystem, addressed by relative keys."""

import os
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

    def staging_dir(self, name: str | None = None) -> Path:
        """A fresh private directory on the same filesystem, so finished work can be renamed into place.

        ``name`` (a job attempt's, say) lets whoever comes next find and remove what a dead process left; an
        existing directory of that name is such a leftover and is emptied first.
        """
        path = self.root / ".staging" / (name or uuid.uuid4().hex)
        if name is not None:
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def clear_staging(self, prefix: str) -> None:
        """Remove the staging directories whose names start with ``prefix`` (a dead attempt's work)."""
        if not prefix or "/" in prefix:
            raise ValueError(f"a staging prefix is one name's beginning: {prefix!r}")
        for path in (self.root / ".staging").glob(f"{prefix}*"):
            shutil.rmtree(path, ignore_errors=True)

    def put_file(self, local_path: Path, key: str) -> None:
        """Store the file at ``key``, replacing what was there; readers never see a half-written object."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        _link_or_copy(local_path, partial)
        os.replace(partial, target)

    def fetch_file(self, key: str, local_path: Path) -> None:
        """Copy the object at ``key`` to ``local_path`` (on this host: a worker may not share the store)."""
        source = self.path(key)
        if not source.is_file():
            raise FileNotFoundError(f"no object stored at {key!r}")
        _link_or_copy(source, local_path)

    def publish(self, staged: Path, key: str) -> Path:
        """Atomically move a staged directory to ``key`` (which must not exist yet)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(target)
        return target

    def delete(self, key: str) -> None:
        """Remove the object or everything below the prefix ``key``, then the folders this left empty (but never
        a top-level one such as ``datasets/``: another process may be publishing into it right now)."""
        path = self.path(key)
        if path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        for parent in path.parents:
            if self.root in (parent, parent.parent) or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or already gone): the folders above are in use too
                break

    def size_bytes(self, key: str) -> int:
        return directory_bytes(self.path(key))


def _link_or_copy(source: Path, target: Path) -> None:
    # A hard link costs nothing on one filesystem; neither side is ever written again, only replaced.
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def directory_bytes(path: Path) -> int:
    """What the files below ``path`` take; 0 when it does not exist. Files removed while counting are skipped."""
    total = 0
    for item in path.rglob("*"):
        try:
            total += item.stat().st_size if item.is_file() else 0
        except FileNotFoundError:
            continue
    return total
