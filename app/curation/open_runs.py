"""Embedding runs held open for the API: their files in the host's cache, memory-mapped, with the search
indexes built over them, the most recently used kept (each holds its cache entry, so it is not evicted)."""

import threading
from collections import OrderedDict
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from app.core.cache import BlobCache
from app.curation.analysis import read_index, read_map, read_neighbors
from app.embedding_runs.files import RunArrays, open_run
from app.embedding_runs.orm import EmbeddingRun
from selfsup.curation.neighbors import NeighborGraph
from selfsup.curation.search import VectorIndex


@dataclass
class OpenRun:
    arrays: RunArrays
    _closer: ExitStack
    _indexes: dict[str, VectorIndex] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def index(self, kind: str) -> VectorIndex:
        """The run's index of ``kind`` ("exact" or "hnsw"), opened on first use."""
        with self._lock:
            if kind not in self._indexes:
                self._indexes[kind] = read_index(self.arrays.folder, self.arrays.vectors, kind=kind)
            return self._indexes[kind]

    def neighbors(self) -> NeighborGraph:
        return read_neighbors(self.arrays.folder)

    def map(self) -> tuple[np.ndarray, str] | None:
        return read_map(self.arrays.folder)

    def label_of(self, index: int) -> str | None:
        labels = self.arrays.labels
        if labels is None or labels[index] < 0:
            return None
        return self.arrays.classes[int(labels[index])]

    def close(self) -> None:
        self._closer.close()


class OpenRuns:
    def __init__(self, blobs: BlobCache, *, capacity: int) -> None:
        self.blobs, self.capacity = blobs, capacity
        self._entries: OrderedDict[str, OpenRun] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run: EmbeddingRun) -> OpenRun:
        """The run's files, opened on first use (a download when the store is remote: call it off the event loop)."""
        with self._lock:
            if run.id in self._entries:
                self._entries.move_to_end(run.id)
                return self._entries[run.id]
        closer = ExitStack()
        arrays = closer.enter_context(open_run(self.blobs, run))
        opened = OpenRun(arrays, closer)
        with self._lock:
            if run.id in self._entries:  # a concurrent request opened it first: keep one
                closer.close()
                return self._entries[run.id]
            self._entries[run.id] = opened
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)[1].close()
        return opened

    def forget(self, run_id: str) -> None:
        with self._lock:
            opened = self._entries.pop(run_id, None)
        if opened is not None:
            opened.close()
