"""What an embedding run stores beside its vectors, so that the API answers search, quality and map requests
without a pass over them: an approximate search index (large runs only: small ones are searched exactly),
each item's nearest neighbours, and a 2-D layout.

The worker writes these files once, when the vectors are complete; the API only reads them.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsup.curation.neighbors import NeighborGraph, knn_graph
from selfsup.curation.search import VectorIndex, build_index, load_index

INDEX_FILE = "index.json"  # the hnsw header; usearch's graph lies beside it (index.json.usearch)
NEIGHBORS_FILE = "neighbors.npz"
MAP_FILE = "map.npy"
ANALYSIS_FILE = "analysis.json"
NEIGHBORS_PER_ITEM = 10  # enough for kNN density and a label vote; near-duplicate groups follow chains of them


@dataclass(frozen=True)
class Analysis:
    """What :func:`write_analysis` found: the index kind that was built and how the map was drawn."""

    index_kind: str
    neighbors: int
    map_method: str | None  # None when the run has more items than a map may show

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index_kind, "neighbors": self.neighbors, "map": self.map_method}


def write_analysis(folder: Path, vectors: np.ndarray, *, exact_up_to: int, seed: int = 0) -> Analysis:
    """Build the index (saved only when approximate: an exact one is the vectors themselves), the neighbour
    graph through it, and the map, into ``folder``."""
    index = build_index(vectors, exact_up_to=exact_up_to)
    if index.kind != "exact":
        index.save(folder / INDEX_FILE)
    neighbors = min(NEIGHBORS_PER_ITEM, len(vectors) - 1)
    knn_graph(vectors, k=neighbors, index=index).save(folder / NEIGHBORS_FILE)
    from selfsup.curation.maps import MAX_MAP_ITEMS, layout_2d  # umap and numba load only where a map is drawn

    map_method = None
    if len(vectors) <= MAX_MAP_ITEMS:
        coords, map_method = layout_2d(vectors, seed=seed)
        np.save(folder / MAP_FILE, coords.astype(np.float32))
    analysis = Analysis(index.kind, neighbors, map_method)
    (folder / ANALYSIS_FILE).write_text(json.dumps(analysis.to_dict()))
    return analysis


def read_index(folder: Path, vectors: np.ndarray, *, kind: str) -> VectorIndex:
    """The run's stored approximate index, or an exact one over its vectors."""
    if kind == "exact" or not (folder / INDEX_FILE).is_file():
        return build_index(vectors, kind="exact")
    return load_index(folder / INDEX_FILE, vectors)


def stored_index_kind(folder: Path) -> str:
    return "hnsw" if (folder / INDEX_FILE).is_file() else "exact"


def read_neighbors(folder: Path) -> NeighborGraph:
    return NeighborGraph.load(folder / NEIGHBORS_FILE)


def read_map(folder: Path) -> tuple[np.ndarray, str] | None:
    if not (folder / MAP_FILE).is_file():
        return None
    method = json.loads((folder / ANALYSIS_FILE).read_text())["map"]
    return np.load(folder / MAP_FILE), str(method)
