"""The k-nearest-neighbour graph of a vector set: what duplicate, outlier and label checks read."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsup.curation.search import VectorIndex, build_index

GRAPH_CHUNK = 4096  # query rows per search call: bounds the float32 copy of a float16 or memory-mapped set


@dataclass(frozen=True)
class NeighborGraph:
    """Each item's k nearest OTHER items. indices: (N, k) int64; scores: (N, k) float32 cosine, descending."""

    indices: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        if self.indices.shape != self.scores.shape or self.indices.ndim != 2:
            raise ValueError(f"indices {self.indices.shape} and scores {self.scores.shape} must be equal (N, k)")

    def save(self, path: Path) -> None:
        """One .npz file (written exactly at ``path``)."""
        with open(path, "wb") as file:
            np.savez(file, indices=self.indices, scores=self.scores)

    @classmethod
    def load(cls, path: Path) -> "NeighborGraph":
        with np.load(path) as arrays:
            return cls(indices=arrays["indices"].astype(np.int64), scores=arrays["scores"].astype(np.float32))


def knn_graph(vectors: np.ndarray, *, k: int = 10, index: VectorIndex | None = None) -> NeighborGraph:
    """The graph of (N, D) unit ``vectors``: k capped at N - 1; ``index`` (built over them) is built if not given."""
    if vectors.ndim != 2 or vectors.shape[0] < 2:
        raise ValueError(f"a neighbour graph needs (N, D) vectors with N >= 2, got shape {vectors.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, vectors.shape[0] - 1)
    index = index if index is not None else build_index(vectors)
    indices = np.empty((vectors.shape[0], k), np.int64)
    scores = np.empty((vectors.shape[0], k), np.float32)
    for start in range(0, vectors.shape[0], GRAPH_CHUNK):
        queries = np.asarray(vectors[start : start + GRAPH_CHUNK], dtype=np.float32)
        found_scores, found = index.search(queries, k + 1)
        rows = np.arange(start, start + len(queries))
        indices[rows], scores[rows] = _without_self(found_scores, found, rows, k)
    return NeighborGraph(indices=indices, scores=scores)


def _without_self(scores: np.ndarray, indices: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop each row's own index (not always first: an exact duplicate ties with it), else its last match."""
    is_self = indices == rows[:, None]  # (q, k + 1)
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    return indices[keep].reshape(len(rows), k), scores[keep].reshape(len(rows), k)
