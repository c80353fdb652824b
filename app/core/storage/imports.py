"""Importing a dataset from an object-store prefix the operator allowed (``SELFSUP_IMPORT_ALLOWED_PREFIXES``).

The ingest worker calls :func:`import_prefix` to copy ``s3://bucket/prefix`` into a local folder, then ingests
that folder as it would an unpacked upload. Only prefixes below an allowed one may be read, so a tenant cannot
point the service at another tenant's (or the service's own) objects; budgets are checked on the listing,
before any byte is downloaded.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from app.core.storage.base import UnsafeKey, check_key, relative_key
from app.core.storage.s3 import S3Storage, parse_s3_url, s3_client

if TYPE_CHECKING:
    from app.core.config import Settings


class ImportRefused(ValueError):
    """The URL is not allowed, or what lies under it is over budget; the message says which."""


@dataclass(frozen=True)
class ImportBudget:
    max_members: int
    max_bytes: int


def check_import_url(url: str, allowed: Sequence[str]) -> tuple[str, str]:
    """(bucket, prefix) of ``url`` when it lies at or below one of the ``allowed`` prefixes."""
    if not allowed:
        raise ImportRefused("imports from object storage are disabled (SELFSUP_IMPORT_ALLOWED_PREFIXES is empty)")
    bucket, prefix = parse_s3_prefix(url)
    if not prefix:
        raise ImportRefused(f"{url!r}: name a prefix below the bucket, not the whole bucket")
    for entry in allowed:
        allowed_bucket, allowed_prefix = parse_s3_prefix(entry)
        # A path-segment match: s3://b/data allows s3://b/data/x, never s3://b/data-evil.
        inside = not allowed_prefix or prefix == allowed_prefix or prefix.startswith(allowed_prefix + "/")
        if bucket == allowed_bucket and inside:
            return bucket, prefix
    raise ImportRefused(f"{url!r} is not below a prefix this service may import from")


def parse_s3_prefix(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix), or ImportRefused naming what is wrong."""
    try:
        return parse_s3_url(urlsplit(url))
    except ValueError as exc:  # UnsafeKey too: '..', backslashes
        raise ImportRefused(str(exc)) from None


def import_prefix(
    url: str, *, settings: "Settings", dest: Path, budget: ImportBudget, allowed: Sequence[str] | None = None
) -> int:
    """Download every object below ``url`` into ``dest``, keeping relative paths; the bytes downloaded.

    The objects are read with the service's own S3 endpoint, region and credentials. ``allowed`` is the
    allow-list as it applies to the caller (the operator's, by default).
    """
    bucket, prefix = check_import_url(url, settings.import_allowed_prefixes if allowed is None else allowed)
    client = s3_client(endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
    store = S3Storage(client, bucket=bucket, prefix="", staging_root=dest)
    listing = store.list(prefix)
    if len(listing) > budget.max_members:
        raise ImportRefused(f"{url!r} holds {len(listing)} objects, over the limit of {budget.max_members}")
    total = sum(item.size for item in listing)
    if total > budget.max_bytes:
        raise ImportRefused(f"{url!r} holds {total} bytes, over the limit of {budget.max_bytes}")
    for item in listing:
        target = dest.joinpath(*_member(item.key, prefix).split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        store.fetch_file(item.key, target)
    return total


def _member(key: str, prefix: str) -> str:
    try:
        return check_key(relative_key(prefix, key))
    except UnsafeKey:
        raise ImportRefused(f"object {key!r} has a name that would leave the import folder") from None
