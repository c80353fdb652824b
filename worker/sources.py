"""The ingest worker's side of a dataset's source: one local file to ingest, whatever the bytes came from."""

import shutil
import tarfile
from pathlib import Path

from app.core.config import Settings
from app.core.storage import Storage
from app.core.storage.imports import ImportBudget, import_prefix
from app.datasets.ingest_jobs import IngestSource
from app.datasets.sources import allowed_import_prefixes

CHUNK_BYTES = 1024 * 1024


def fetch_source(storage: Storage, source: IngestSource, target: Path, *, settings: Settings, tenant: str) -> None:
    """Write the source to ``target``: the stored objects one after another, or an imported prefix as a tar."""
    if source.import_url is not None:
        fetch_import(source.import_url, target, settings=settings, tenant=tenant)
    elif len(source.keys) == 1:
        storage.fetch_file(source.keys[0], target)
    else:
        with target.open("wb") as out:
            for key in source.keys:  # a resumable upload's parts, streamed in order: one local copy, not two
                with storage.open(key) as data:
                    shutil.copyfileobj(data, out, CHUNK_BYTES)


def fetch_import(url: str, target: Path, *, settings: Settings, tenant: str) -> None:
    """Download the prefix (checked again here: the allow-list may have changed since the upload was accepted,
    and budgets are judged on the listing before any byte moves), then pack it as an uncompressed tar, so that
    every modality reads it as it reads an uploaded archive."""
    folder = target.with_name(f"{target.name}.objects")
    budget = ImportBudget(
        max_members=settings.max_archive_members, max_bytes=min(settings.max_upload_bytes, settings.max_extracted_bytes)
    )
    import_prefix(
        url, settings=settings, dest=folder, budget=budget, allowed=allowed_import_prefixes(settings, tenant=tenant)
    )
    with tarfile.open(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=path.relative_to(folder).as_posix())
                path.unlink()  # the tar holds it now: the disk holds one copy at a time, not two
    shutil.rmtree(folder, ignore_errors=True)
