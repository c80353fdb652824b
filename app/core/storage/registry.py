"""Backends registered by URL scheme: ``open_storage(settings)`` picks one, and Settings checks URLs at start."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from app.core.storage.base import Storage

if TYPE_CHECKING:
    from app.core.config import Settings


@dataclass(frozen=True)
class Backend:
    check: Callable[[SplitResult], None]  # raises ValueError naming what is wrong with the URL
    open: Callable[[SplitResult, "Settings"], Storage]


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
    backend, parts = _backend(settings.storage_url)
    return backend.open(parts, settings)
