"""Backends registered by URL scheme: ``open_storage(settings)`` picks one, and Settings checks URLs at start."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from app.core.storage.base import Storage

if TYPE_CHECKING:
    from app.core.config import Settings


@dataclass(frozen=True)
class StorageOptions:
    """What opening a store depends on (hashable, so each process opens one client per store)."""

    url: str
    s3_endpoint_url: str | None
    s3_region: str | None
    staging_root: Path  # where a remote store stages work locally

    @classmethod
    def from_settings(cls, settings: "Settings") -> "StorageOptions":
        staging = settings.cache_dir / "staging"
        return cls(settings.storage_url, settings.s3_endpoint_url, settings.s3_region, staging)


@dataclass(frozen=True)
class Backend:
    check: Callable[[SplitResult], None]  # raises ValueError naming what is wrong with the URL
    open: Callable[[SplitResult, StorageOptions], Storage]


_BACKENDS: dict[str, Backend] = {}


def register_backend(scheme: str, backend: Backend) -> None:
    _BACKENDS[scheme] = backend


def _backend(url: str) -> tuple[Backend, SplitResult]:
    parts = urlsplit(url)
    if parts.scheme not in _BACKENDS:
        known = ", ".join(f"{scheme}://" for scheme in sorted(_BACKENDS))
        raise ValueError(f"SELFSUP_STORAGE_URL {url!r}: scheme not supported (supported: {known})")
    return _BACKENDS[parts.scheme], parts


def check_storage_url(url: str) -> None:
    """Fail fast with a clear message on a URL no backend can open."""
    backend, parts = _backend(url)
    backend.check(parts)


def open_storage(settings: "Settings") -> Storage:
    return _open(StorageOptions.from_settings(settings))


def forget_open_stores() -> None:
    """A forked process opens its own: a boto3 client's pooled connections must not be shared with the parent."""
    _open.cache_clear()


@lru_cache(maxsize=16)
def _open(options: StorageOptions) -> Storage:
    backend, parts = _backend(options.url)
    return backend.open(parts, options)
