"""Copying an upload to the staging area in bounded chunks, enforcing the size limit as it goes."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from app.core.errors import PayloadTooLarge
from app.core.storage import Storage

CHUNK_BYTES = 1024 * 1024


@contextmanager
def staged_upload(upload: UploadFile, *, storage: Storage, max_bytes: int) -> Iterator[Path]:
    """Yield a path holding the upload's bytes; the staged copy is removed afterwards whatever happens."""
    if upload.size is not None and upload.size > max_bytes:
        raise PayloadTooLarge(f"{upload.filename}: {upload.size} bytes, over the limit of {max_bytes}")
    folder = storage.staging_dir()
    try:
        target = folder / "upload"
        with target.open("wb") as out:
            written = 0
            while chunk := upload.file.read(CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:
                    raise PayloadTooLarge(f"{upload.filename}: over the limit of {max_bytes} bytes")
                out.write(chunk)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)
