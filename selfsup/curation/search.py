"""Nearest-neighbour search over L2-normalized vectors: exact (chunked matmul) or approximate (HNSW).

Both kinds answer ``search(queries, k)`` with cosine similarities, best first. Small sets use the exact index
(a 20k x 768 float16 set is 30 MB: one pass costs milliseconds, and it is always right); larger ones an
HNSW graph (Malkov & Yashunin, 2018) built by usearch.

Why usearch rather than faiss: it is one small wheel with no BLAS or CUDA variants to pick between, it stores
the graph's vectors as float16 (half the memory of faiss's flat HNSW, and the precision our embeddings already
have), and a saved index is memory-mapped back with ``view=True``, so a worker or API process serves a large
index without reading it into memory first. bench/label_efficiency.py measures its recall and latency.

Saved form: ``save(path)`` writes a small JSON header at ``path`` (kind, count, dim); an HNSW index adds its
graph next to it at ``<path>.usearch``. ``load_index(path, vectors)`` reads the header and dispatches.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

QUERY_CHUNK = 1024  # queries per block ...
BASE_CHUNK = 16_384  # ... times stored rows per block: a (1024, 16384) float32 score block is 64 MB


class VectorIndex(Protocol):
    kind: str  # "exact" | "hnsw"

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, D) float32 unit queries -> scores (Q, k) float32 descending, indices (Q, k) int64; k capped at N."""
        ...

    def save(self, path: Path) -> None: ...


def _capped_k(k: int, count: int) -> int:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if count == 0:
        raise ValueError("the index holds no vectors")
    return min(k, count)


def _checked_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must be (Q, {dim}), got shape {queries.shape}")
    return np.asarray(queries, dtype=np.float32)


def _write_header(path: Path, kind: str, vectors: np.ndarray) -> None:
    header = {"kind": kind, "count": int(vectors.shape[0]), "dim": int(vectors.shape[1])}
    Path(path).write_text(json.dumps(header))


def _top_k(scores: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best of (Q, M) candidate scores and their indices, best first."""
    if scores.shape[1] > k:
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        scores, indices = np.take_along_axis(scores, keep, 1), np.take_along_axis(indices, keep, 1)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, 1), np.take_along_axis(indices, order, 1)


class ExactIndex:
    """Brute-force cosine search over (N, D) unit rows (float16 or float32, a memmap is fine), in blocks."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be (N, D), got shape {vectors.shape}")
        self.vectors = vectors

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _capped_k(k, self.vectors.shape[0])
        queries = _checked_queries(queries, self.vectors.shape[1])
        blocks = [self._search_block(queries[s : s + QUERY_CHUNK], k) for s in range(0, len(queries), QUERY_CHUNK)]
        if not blocks:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])

    def _search_block(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        best_scores = np.empty((len(queries), 0), np.float32)
        best_indices = np.empty((len(queries), 0), np.int64)
        for start in range(0, self.vectors.shape[0], BASE_CHUNK):
            rows = np.asarray(self.vectors[start : start + BASE_CHUNK], dtype=np.float32)
            scores = queries @ rows.T  # (q, b)
            indices = np.broadcast_to(np.arange(start, start + len(rows), dtype=np.int64), scores.shape)
            best_scores, best_indices = _top_k(
                np.concatenate([best_scores, scores], 1), np.concatenate([best_indices, indices], 1), k
            )
        return best_scores, best_indices

    def save(self, path: Path) -> None:
        _write_header(path, self.kind, self.vectors)

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray) -> "ExactIndex":
        return cls(vectors)


class HnswIndex:
    """usearch HNSW graph over (N, D) unit rows: cosine metric, float16 storage, keys = row numbers."""

    kind = "hnsw"
    CONNECTIVITY = 16  # edges per node: usearch's default, a good recall/memory balance at 100-1000 dims
    EXPANSION_ADD = 128  # candidates while building: higher builds slower and finds better edges
    EXPANSION_SEARCH = 128  # candidates while searching (2k for large k): 64 gave recall@10 0.92, 128 0.98

    def __init__(self, index: Any, vectors: np.ndarray) -> None:
        self._index = index  # usearch.index.Index; typed loosely as usearch ships no stubs
        self.vectors = vectors  # kept for the rare query the graph answers with fewer than k matches
        self.expansion_search = self.EXPANSION_SEARCH  # per instance: trade latency for recall

    @classmethod
    def build(cls, vectors: np.ndarray) -> "HnswIndex":
        from usearch.index import Index

        index = Index(
            ndim=vectors.shape[1],
            metric="cos",
            dtype="f16",
            connectivity=cls.CONNECTIVITY,
            expansion_add=cls.EXPANSION_ADD,
            expansion_search=cls.EXPANSION_SEARCH,
        )
        for start in range(0, vectors.shape[0], BASE_CHUNK):
            rows = np.asarray(vectors[start : start + BASE_CHUNK], dtype=np.float32)
            index.add(np.arange(start, start + len(rows), dtype=np.uint64), rows)
        return cls(index, vectors)

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray) -> "HnswIndex":
        from usearch.index import Index

        index = Index.restore(str(_graph_path(path)), view=True)  # memory-mapped: nothing read up front
        if index is None or len(index) != vectors.shape[0]:
            raise ValueError(f"{_graph_path(path)} does not hold an index of {vectors.shape[0]} vectors")
        return cls(index, vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = _capped_k(k, self.vectors.shape[0])
        queries = _checked_queries(queries, self.vectors.shape[1])
        if len(queries) == 0:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        self._index.expansion_search = max(self.expansion_search, 2 * k)
        scores, indices, counts = _batch_matches(self._index.search(queries, k), k)
        short = np.flatnonzero(counts < k)  # a graph can miss: answer those rows exactly
        if len(short):
            scores[short], indices[short] = ExactIndex(self.vectors).search(queries[short], k)
        return scores, indices

    def save(self, path: Path) -> None:
        _write_header(path, self.kind, self.vectors)
        self._index.save(str(_graph_path(path)))


def _batch_matches(matches: Any, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """usearch's answer as (Q, k) scores and indices plus (Q,) match counts; it answers one query unbatched."""
    if hasattr(matches, "counts"):
        keys, distances, counts = matches.keys, matches.distances, np.asarray(matches.counts)
    else:  # one query: a Matches of up to k entries
        counts = np.array([len(matches.keys)])
        keys, distances = np.zeros((1, k), np.uint64), np.ones((1, k), np.float32)
        keys[0, : counts[0]], distances[0, : counts[0]] = matches.keys, matches.distances
    return (1.0 - distances).astype(np.float32), keys.astype(np.int64), counts  # cosine distance -> similarity


def _graph_path(path: Path) -> Path:
    return Path(f"{path}.usearch")


_LOADERS: dict[str, Callable[[Path, np.ndarray], VectorIndex]] = {"exact": ExactIndex.load, "hnsw": HnswIndex.load}


def build_index(vectors: np.ndarray, *, kind: str = "auto", exact_up_to: int = 20_000) -> VectorIndex:
    """An exact index up to ``exact_up_to`` vectors and an HNSW one above, unless ``kind`` names one."""
    if kind == "auto":
        kind = "exact" if vectors.shape[0] <= exact_up_to else "hnsw"
    if kind == "exact":
        return ExactIndex(vectors)
    if kind == "hnsw":
        return HnswIndex.build(vectors)
    raise ValueError(f"unknown index kind {kind!r}: expected 'auto', 'exact' or 'hnsw'")


def load_index(path: Path, vectors: np.ndarray) -> VectorIndex:
    """The index ``save(path)`` wrote, over the same (N, D) ``vectors`` it was built on."""
    header = json.loads(Path(path).read_text())
    if (header["count"], header["dim"]) != tuple(vectors.shape):
        raise ValueError(f"index at {path} covers {header['count']}x{header['dim']}, vectors are {vectors.shape}")
    if header["kind"] not in _LOADERS:
        raise ValueError(f"index at {path} has unknown kind {header['kind']!r}")
    return _LOADERS[header["kind"]](Path(path), vectors)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row of ``truth`` (Q, k) indices that appears in the same row of ``found`` (Q, k')."""
    if len(truth) != len(found):
        raise ValueError(f"{len(found)} rows found but {len(truth)} rows of truth")
    if truth.size == 0:
        return 1.0
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size
