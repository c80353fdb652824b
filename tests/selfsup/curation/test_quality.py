import numpy as np
import pytest

from selfsup.curation.neighbors import knn_graph
from selfsup.curation.quality import (
    exact_duplicate_groups,
    label_disagreements,
    near_duplicate_groups,
    outliers,
)
from tests.selfsup.curation.synthetic import clustered


def test_exact_duplicates_are_grouped_largest_first() -> None:
    hashes = np.array(["a", "b", "c", "b", "a", "d", "b", "c"])
    assert exact_duplicate_groups(hashes) == [[1, 3, 6], [0, 4], [2, 7]]
    assert exact_duplicate_groups(np.array([5, 6, 7])) == []


def test_planted_near_duplicates_are_found() -> None:
    vectors, _ = clustered(5, 20, spread=1.0)
    rng = np.random.default_rng(1)
    for twin, original in [(10, 50), (11, 50), (90, 30)]:
        vectors[twin] = vectors[original] + 1e-3 * rng.standard_normal(vectors.shape[1])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    groups = near_duplicate_groups(knn_graph(vectors, k=5), threshold=0.995)
    assert groups == [[10, 11, 50], [30, 90]]


def test_planted_outliers_have_the_lowest_density() -> None:
    vectors, _ = clustered(4, 30)
    rng = np.random.default_rng(2)
    far = rng.standard_normal((3, vectors.shape[1])).astype(np.float32)
    vectors[[5, 40, 77]] = far / np.linalg.norm(far, axis=1, keepdims=True)
    found = outliers(knn_graph(vectors, k=5), count=3)
    assert sorted(index for index, _ in found) == [5, 40, 77]
    assert [density for _, density in found] == sorted(density for _, density in found)


def test_flipped_labels_are_found() -> None:
    vectors, ids = clustered(3, 20)
    labels = ids.copy()
    labels[[4, 25]] = [2, 0]  # flipped
    labels[50:55] = -1  # unlabeled: neither flagged nor voting
    found = label_disagreements(knn_graph(vectors, k=6), labels)
    assert {(d.index, d.label, d.suggested) for d in found} == {(4, 2, 0), (25, 0, 1)}
    assert all(d.agreement >= 0.6 for d in found)
    assert label_disagreements(knn_graph(vectors, k=6), np.full(60, -1)) == []
    with pytest.raises(ValueError, match="labels must be"):
        label_disagreements(knn_graph(vectors, k=6), labels[:5])
