from pathlib import Path

import numpy as np

from selfsup.curation.neighbors import NeighborGraph, knn_graph
from selfsup.curation.search import build_index
from tests.selfsup.curation.synthetic import clustered


def test_each_item_gets_its_nearest_other_items() -> None:
    vectors, ids = clustered(4, 25)
    graph = knn_graph(vectors, k=5)
    assert graph.indices.shape == graph.scores.shape == (100, 5)
    assert not np.any(graph.indices == np.arange(100)[:, None])
    assert np.all(ids[graph.indices] == ids[:, None])  # tight clusters: neighbours share the cluster
    assert np.all(np.diff(graph.scores, axis=1) <= 1e-6)


def test_an_exact_duplicate_is_its_twins_neighbour_not_itself() -> None:
    vectors, _ = clustered(2, 10)
    vectors[3] = vectors[7]
    graph = knn_graph(vectors, k=3, index=build_index(vectors, kind="hnsw"))
    assert graph.indices[3, 0] == 7 and graph.indices[7, 0] == 3
    assert graph.scores[3, 0] > 0.999


def test_k_is_capped_and_the_graph_round_trips(tmp_path: Path) -> None:
    vectors, _ = clustered(1, 4)
    graph = knn_graph(vectors, k=10)
    assert graph.indices.shape == (4, 3)
    graph.save(tmp_path / "graph.npz")
    loaded = NeighborGraph.load(tmp_path / "graph.npz")
    np.testing.assert_array_equal(loaded.indices, graph.indices)
    np.testing.assert_array_equal(loaded.scores, graph.scores)
