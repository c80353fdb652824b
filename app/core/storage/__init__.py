"""Blob storage behind one interface, with a backend per URL scheme (``SELFSUP_STORAGE_URL``).

Importing the package registers both backends; callers use :func:`open_storage` and the :class:`Storage`
methods, never a backend by name.
"""

from app.core.storage import local, s3
from app.core.storage.base import Storage, StorageError, StoredObject, UnsafeKey, check_key
from app.core.storage.local import LocalStorage, directory_bytes
from app.core.storage.registry import check_storage_url, forget_open_stores, open_storage

__all__ = [
    "LocalStorage",
    "Storage",
    "StorageError",
    "StoredObject",
    "UnsafeKey",
    "check_key",
    "check_storage_url",
    "directory_bytes",
    "forget_open_stores",
    "local",
    "open_storage",
    "s3",
]
