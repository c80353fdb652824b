"""A host-local cache of stored prefixes (datasets, models), so the engine memory-maps local files.

Entries are content-addressed: an entry's name is a digest of the prefix and its object listing (keys, sizes,
ETags), so a changed prefix is a new entry and an entry never goes stale. An entry is downloaded into a
temporary folder and renamed into place under a per-entry file lock, so processes on one host that want the
same prefix at once download it once. Users hold a shared lock on the entry while they read it; eviction
(least recently used first, once the cache holds more than its byte budget) takes that lock exclusively
without waiting, so an entry in use is never evicted. A store whose prefixes already lie on this host
(``Storage.local_dir``) is read in place and nothing is cached.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from app.core.config import Settings
from app.core.storage import Storage, StoredObject, directory_bytes, open_storage
from app.core.storage.base import relative_key

log = logging.getLogger(__name__)


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    """Hold ``flock(mode)`` on ``path``; yields False (holding nothing) when ``LOCK_NB`` finds it taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[bytes] = path.open("ab")
    try:
        try:
            fcntl.flock(handle, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()  # closing releases the lock


def entry_name(prefix: str, listing: list[StoredObject]) -> str:
    """``<prefix tag>-<digest of prefix and listing>``: every version of a prefix shares the tag, so that
    :meth:`BlobCache.forget` finds them all once the prefix is gone from the store."""
    digest = hashlib.sha256(prefix.encode())
    for item in listing:
        digest.update(f"\n{item.key}\t{item.size}\t{item.etag}".encode())
    return f"{prefix_tag(prefix)}-{digest.hexdigest()[:32]}"


def prefix_tag(prefix: str) -> str:
    return hashlib.sha256(prefix.encode()).hexdigest()[:16]


class BlobCache:
    def __init__(self, storage: Storage, root: Path, *, max_bytes: int) -> None:
        self.storage, self.root, self.max_bytes = storage, root, max_bytes
        self.entries, self.locks, self.partial = root / "entries", root / "locks", root / "partial"

    @classmethod
    def from_settings(cls, settings: Settings, storage: Storage | None = None) -> "BlobCache":
        return cls(storage or open_storage(settings), settings.cache_dir, max_bytes=settings.cache_bytes)

    @contextmanager
    def local(self, prefix: str) -> Iterator[Path]:
        """A local folder holding ``prefix``'s files, valid (and kept from eviction) inside the ``with``."""
        in_place = self.storage.local_dir(prefix)
        if in_place is not None:
            if not in_place.is_dir():
                raise FileNotFoundError(f"{prefix!r} is not in the store {self.storage.description}")
            yield in_place
            return
        listing = self.storage.list(prefix)
        if not listing:
            raise FileNotFoundError(f"{prefix!r} is not in the {self.storage.description}")
        name = entry_name(prefix, listing)
        entry = self.entries / name
        with ExitStack() as using:
            with _flock(self.locks / f"{name}.fetch", fcntl.LOCK_EX):
                downloaded = not entry.is_dir()
                if downloaded:
                    self._download(prefix, listing, entry)
                self._mark_used(entry)
                # Taken before the fetch lock goes, so an evictor cannot slip in between.
                using.enter_context(_flock(self.locks / f"{name}.use", fcntl.LOCK_SH))
            if downloaded:
                self.evict(keep=name)
            yield entry

    def _download(self, prefix: str, listing: list[StoredObject], entry: Path) -> None:
        partial = self.partial / f"{entry.name}.{uuid.uuid4().hex}"  # named for its entry: see _sweep
        try:
            for item in listing:
                target = partial.joinpath(*relative_key(prefix, item.key).split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                self.storage.fetch_file(item.key, target)
            entry.parent.mkdir(parents=True, exist_ok=True)
            partial.rename(entry)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        log.info("cached %s (%d files) as %s", prefix, len(listing), entry.name)

    def workdir(self, key: str, *, owner: str) -> Path:
        """A local working folder for ``key`` (a job's): the stored folder itself when it lies on this host,
        else one below the cache private to ``owner`` (an attempt: a stalled attempt on this host must not
        share its successor's folder). Not an entry: never evicted; :meth:`drop_workdir` removes it."""
        in_place = self.storage.local_dir(key)
        return in_place if in_place is not None else self.root / "work" / key / owner

    def drop_workdir(self, path: Path) -> None:
        """Remove a working folder below the cache; one in the store itself stays (it is the stored copy)."""
        if self.root / "work" in path.parents:
            shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(OSError):  # the key's folder, once no other owner has one in it
                path.parent.rmdir()

    def _mark_used(self, entry: Path) -> None:
        """Make ``entry`` the most recently used: the LRU order is the entries' modification times. The stamp is
        set explicitly past every other entry's, because the file system's own clock is coarse (milliseconds):
        two uses in one tick would tie, and the wrong entry could go."""
        newest = max((_mtime_ns(other) for other in self.entries.iterdir() if other != entry), default=0)
        stamp = max(time.time_ns(), newest + 1)
        os.utime(entry, ns=(stamp, stamp))

    def evict(self, *, keep: str = "") -> list[str]:
        """Remove least recently used entries not in use until the cache fits its budget; what was removed."""
        with _flock(self.root / "evict.lock", fcntl.LOCK_EX):
            self._sweep()
            found = list(self.entries.iterdir()) if self.entries.is_dir() else []
            entries = sorted(found, key=_mtime_ns)
            sizes = {entry.name: directory_bytes(entry) for entry in entries}
            total, removed = sum(sizes.values()), []
            for entry in entries:
                if total <= self.max_bytes:
                    break
                if entry.name != keep and self._remove_unused(entry):
                    total -= sizes[entry.name]
                    removed.append(entry.name)
        if total > self.max_bytes:
            log.warning("cache %s holds %d bytes in use, over its budget of %d", self.root, total, self.max_bytes)
        return removed

    def forget(self, prefix: str) -> list[str]:
        """Remove this host's entries of a prefix deleted from the store (what was removed); one in use stays,
        to go by eviction like any other."""
        with _flock(self.root / "evict.lock", fcntl.LOCK_EX):
            found = sorted(self.entries.glob(f"{prefix_tag(prefix)}-*")) if self.entries.is_dir() else []
            return [entry.name for entry in found if self._remove_unused(entry)]

    def _sweep(self) -> None:
        """Remove what killed processes left half-done: a partial download is only written under its entry's
        fetch lock, so one whose lock is free has no writer left (an evicted entry's folder is garbage anyway)."""
        for leftover in list(self.partial.iterdir()) if self.partial.is_dir() else []:
            name = leftover.name.split(".", 1)[0]
            with _flock(self.locks / f"{name}.fetch", fcntl.LOCK_EX | fcntl.LOCK_NB) as free:
                if free:
                    shutil.rmtree(leftover, ignore_errors=True)

    def _remove_unused(self, entry: Path) -> bool:
        name = entry.name
        with _flock(self.locks / f"{name}.fetch", fcntl.LOCK_EX | fcntl.LOCK_NB) as free:
            if not free:
                return False
            with _flock(self.locks / f"{name}.use", fcntl.LOCK_EX | fcntl.LOCK_NB) as unused:
                if not unused:
                    return False
                doomed = self.partial / f"{name}.evicted.{uuid.uuid4().hex}"
                doomed.parent.mkdir(parents=True, exist_ok=True)
                entry.rename(doomed)  # gone from entries at once; the slow delete follows
        shutil.rmtree(doomed, ignore_errors=True)
        return True


def _mtime_ns(path: Path) -> int:
    """0 for an entry another process removed meanwhile: it sorts first, and removing it again is harmless."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0
