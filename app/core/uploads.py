"""Copying an upload (a multipart file, or a raw body) to the staging area in bounded chunks, enforcing the size
limit as it goes."""

import hashlib
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StagedFile:
    path: Path
    size_bytes: int
    sha256: str


@asynccontextmanager
async def staged_stream(
    chunks: AsyncIterator[bytes], *, storage: Storage, max_bytes: int, what: str
) -> AsyncIterator[StagedFile]:
    """Copy a raw request body to staging as it arrives, hashing it; removed afterwards whatever happens.

    Chunks go straight to the page cache, a few microseconds each, so the event loop is not worth leaving."""
    folder = storage.staging_dir()
    try:
        target, digest, written = folder / "body", hashlib.sha256(), 0
        with target.open("wb") as out:
            async for chunk in chunks:
                written += len(chunk)
                if written > max_bytes:
                    raise PayloadTooLarge(f"{what}: over the limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        yield StagedFile(target, written, digest.hexdigest())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
