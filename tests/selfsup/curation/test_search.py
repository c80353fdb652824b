from pathlib import Path

import numpy as np
import pytest

from selfsup.curation import search
from selfsup.curation.search import ExactIndex, HnswIndex, build_index, load_index, recall_at_k
from tests.selfsup.curation.synthetic import clustered


def _brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ vectors.astype(np.float32).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), order


def test_exact_index_equals_brute_force_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "BASE_CHUNK", 37)  # many blocks, and a ragged last one
    monkeypatch.setattr(search, "QUERY_CHUNK", 8)
    vectors, _ = clustered(5, 40, spread=1.0)
    queries, _ = clustered(5, 4, spread=1.0, seed=1)
    scores, indices = ExactIndex(vectors.astype(np.float16)).search(queries, 7)
    want_scores, want_indices = _brute_force(vectors.astype(np.float16), queries, 7)
    assert scores.dtype == np.float32 and indices.dtype == np.int64
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)


def test_k_is_capped_at_the_number_of_vectors() -> None:
    vectors, _ = clustered(1, 3)
    for kind in ("exact", "hnsw"):
        scores, indices = build_index(vectors, kind=kind).search(vectors[:2], 10)
        assert scores.shape == indices.shape == (2, 3)
        assert sorted(indices[0]) == [0, 1, 2]


def test_hnsw_recall_at_10_on_clustered_vectors() -> None:
    vectors, _ = clustered(50, 100, dim=64, spread=1.0)
    queries, _ = clustered(50, 4, dim=64, spread=1.0, seed=2)
    index = build_index(vectors, exact_up_to=1000)
    assert index.kind == "hnsw"
    scores, found = index.search(queries, 10)
    _, truth = ExactIndex(vectors).search(queries, 10)
    assert recall_at_k(found, truth) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    one_scores, one = index.search(queries[:1], 10)  # usearch answers a single query unbatched
    assert one.shape == (1, 10) and one.dtype == np.int64
    np.testing.assert_array_equal(one, found[:1])
    np.testing.assert_allclose(one_scores, scores[:1], atol=1e-6)


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_save_and_load_give_the_same_answers(tmp_path: Path, kind: str) -> None:
    vectors, _ = clustered(4, 30)
    np.save(tmp_path / "vectors.npy", vectors.astype(np.float16))
    stored = np.load(tmp_path / "vectors.npy", mmap_mode="r")
    index = build_index(stored, kind=kind)
    index.save(tmp_path / "index")
    loaded = load_index(tmp_path / "index", stored)
    assert loaded.kind == kind and isinstance(loaded, ExactIndex if kind == "exact" else HnswIndex)
    np.testing.assert_array_equal(loaded.search(vectors[:5], 4)[1], index.search(vectors[:5], 4)[1])
    with pytest.raises(ValueError, match="covers 120x32"):
        load_index(tmp_path / "index", stored[:10])


def test_recall_counts_shared_members() -> None:
    assert recall_at_k(np.array([[1, 2], [3, 4]]), np.array([[2, 1], [3, 5]])) == 0.75
    with pytest.raises(ValueError, match="unknown index kind"):
        build_index(np.zeros((2, 2), np.float32), kind="faiss")
