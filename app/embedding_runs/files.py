"""The files of a finished embedding run (under ``embedding-runs/<id>/`` in storage) and how to read them.

Row i of every array is dataset item i. Vectors are saved with ``np.save`` so they memory-map.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.cache import BlobCache

if TYPE_CHECKING:
    from app.embedding_runs.orm import EmbeddingRun

VECTORS = "vectors.npy"  # (N, D) float16 or float32, L2-normalized rows
HASHES = "hashes.npy"  # (N,) uint64 content hash of each item's canonical content
LABELS = "labels.npy"  # (N,) int64, -1 where unlabeled; only when the dataset has labels
CLASSES = "classes.json"  # list of class names, with LABELS
RUN = "run.json"  # {"model_id", "dataset_id", "modality", "dim", "dtype", "num_items"}
PREFIX = "embedding-runs"


def storage_key(run_id: str) -> str:
    return f"{PREFIX}/{run_id}"


@dataclass(frozen=True)
class RunArrays:
    vectors: np.ndarray  # (N, D) memory-mapped, read-only
    hashes: np.ndarray  # (N,) uint64
    labels: np.ndarray | None  # (N,) int64, -1 unlabeled
    classes: list[str]  # [] when unlabeled
    folder: Path  # the local folder holding the files


def read_run_arrays(folder: Path) -> RunArrays:
    labels_path = folder / LABELS
    has_labels = labels_path.is_file()
    return RunArrays(
        vectors=np.load(folder / VECTORS, mmap_mode="r"),
        hashes=np.load(folder / HASHES, mmap_mode="r"),
        labels=np.load(labels_path, mmap_mode="r") if has_labels else None,
        classes=json.loads((folder / CLASSES).read_text()) if has_labels else [],
        folder=folder,
    )


@contextmanager
def open_run(blobs: BlobCache, run: "EmbeddingRun") -> Iterator[RunArrays]:
    """The run's arrays from a local copy, valid (kept from eviction) inside the ``with``."""
    with blobs.local(run.storage_key) as folder:
        yield read_run_arrays(folder)
