"""A finished run's vectors as a download: the stored ``.npy`` as it is, or a Parquet file built for the request.

Parquet is written in row groups to a temporary file, so a run of millions of vectors never sits in memory
whole; the file is streamed and removed once sent.
"""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from app.core.cache import BlobCache
from app.embedding_runs.files import VECTORS, RunArrays, open_run
from app.embedding_runs.orm import EmbeddingRun

CHUNK_BYTES = 1 << 20
ROW_GROUP = 8192  # rows per Parquet row group: bounds the memory one group takes while it is written


def stream_vectors_npy(blobs: BlobCache, run: EmbeddingRun) -> Iterator[bytes]:
    """The stored file in chunks; the cache keeps the local copy from eviction until the last one is sent."""
    with blobs.local(run.storage_key) as folder, (folder / VECTORS).open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def parquet_schema() -> pa.Schema:
    return pa.schema([("index", pa.int64()), ("label", pa.string()), ("vector", pa.list_(pa.float32()))])


def write_parquet(arrays: RunArrays, path: Path) -> None:
    """Columns ``index`` (int64), ``label`` (string, null when unlabeled), ``vector`` (list<float32>)."""
    num_items = arrays.vectors.shape[0]
    schema = parquet_schema()
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, num_items, ROW_GROUP):
            writer.write_table(_row_group(arrays, start, min(start + ROW_GROUP, num_items), schema))


def _row_group(arrays: RunArrays, start: int, stop: int, schema: pa.Schema) -> pa.Table:
    vectors = np.asarray(arrays.vectors[start:stop], dtype=np.float32)  # (n, D)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    dim, flat_len = vectors.shape[1], vectors.size
    columns = [
        pa.array(np.arange(start, stop, dtype=np.int64)),
        pa.array(_label_names(arrays, start, stop), type=pa.string()),
        pa.ListArray.from_arrays(pa.array(np.arange(0, flat_len + 1, dim, dtype=np.int32)), flat),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _label_names(arrays: RunArrays, start: int, stop: int) -> list[str | None]:
    if arrays.labels is None:
        return [None] * (stop - start)
    return [arrays.classes[code] if code >= 0 else None for code in arrays.labels[start:stop].tolist()]


def build_parquet(blobs: BlobCache, run: EmbeddingRun) -> Path:
    """A temporary Parquet file of the run's vectors; the caller removes it (see :func:`stream_and_remove`)."""
    handle, name = tempfile.mkstemp(prefix=f"{run.id}-", suffix=".parquet")
    os.close(handle)
    path = Path(name)
    try:
        with open_run(blobs, run) as arrays:
            write_parquet(arrays, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def stream_and_remove(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
