from pathlib import Path

import numpy as np
import pytest

from selfsup.curation.fewshot import LinearClassifier, _logistic_regression, fit_classifier
from tests.selfsup.curation.synthetic import clustered


def _names(ids: np.ndarray) -> list[str]:
    return [f"class-{i}" for i in ids]


@pytest.mark.parametrize("num_classes", [2, 4])
def test_probabilities_match_scikit_learns_own(num_classes: int) -> None:
    vectors, ids = clustered(num_classes, 20, spread=1.5)
    labels = _names(ids)
    result = fit_classifier(vectors, labels, seed=3, regularization=0.5)
    reference = _logistic_regression(3, 0.5).fit(vectors, np.array(labels, dtype=object))
    queries, _ = clustered(num_classes, 5, spread=2.0, seed=1)
    ours = result.classifier.predict_proba(queries)
    assert ours.dtype == np.float32 and ours.shape == (len(queries), num_classes)
    np.testing.assert_allclose(ours, reference.predict_proba(queries), atol=1e-5)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)
    assert result.classifier.predict(queries) == list(reference.predict(queries))
    assert result.classifier.classes == sorted(set(labels))


def test_separable_clusters_cross_validate_to_one() -> None:
    vectors, ids = clustered(3, 12)
    result = fit_classifier(vectors, _names(ids))
    assert result.cv_folds == 5
    assert result.cv_accuracy == pytest.approx(1.0)
    assert result.class_counts == {"class-0": 12, "class-1": 12, "class-2": 12}


def test_folds_shrink_to_the_smallest_class_and_vanish_below_two() -> None:
    vectors, ids = clustered(2, 3)
    assert fit_classifier(vectors, _names(ids)).cv_folds == 3
    labels = ["a", "a", "a", "a", "a", "b"]
    result = fit_classifier(vectors, labels)
    assert (result.cv_accuracy, result.cv_folds) == (None, 0)
    assert result.classifier.predict(vectors[:1]) == ["a"]


def test_round_trip_through_npz(tmp_path: Path) -> None:
    vectors, ids = clustered(3, 6)
    classifier = fit_classifier(vectors.astype(np.float16), _names(ids)).classifier
    np.savez(tmp_path / "c.npz", **classifier.to_arrays())
    with np.load(tmp_path / "c.npz") as arrays:
        loaded = LinearClassifier.from_arrays(arrays)
    assert loaded.classes == classifier.classes
    np.testing.assert_array_equal(loaded.predict_proba(vectors), classifier.predict_proba(vectors))


def test_one_class_is_refused_by_name() -> None:
    vectors, _ = clustered(1, 4)
    with pytest.raises(ValueError, match="at least 2 classes"):
        fit_classifier(vectors, ["cat"] * 4)
    with pytest.raises(ValueError, match="4 vectors but 3 labels"):
        fit_classifier(vectors, ["a", "b", "a"])
