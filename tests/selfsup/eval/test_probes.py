"""kNN and linear probes on features with known answers; the labeled evaluation on a trained tiny SimCLR."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from selfsup.data.image_data import ImageData
from selfsup.eval import collapse_warning, embedder
from selfsup.eval.baselines import baseline_for, pixel_features
from selfsup.eval.probes import (
    evaluate_with_labels,
    fold_count,
    knn_top1,
    labeled_split,
    linear_probe,
    probe_accuracies,
)
from selfsup.methods import get_method
from selfsup.train.loop import Trainer

CLASSES = 10


def _clusters(per_class: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian clusters: class means ~N(0, 25 I), unit noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(CLASSES, dim))
    labels = np.repeat(np.arange(CLASSES), per_class)
    return centres[labels] + rng.normal(size=(len(labels), dim)), labels


@pytest.fixture(scope="module")
def clusters() -> tuple[np.ndarray, np.ndarray]:
    return _clusters(50, 32, seed=0)


def test_probes_separate_well_separated_clusters(clusters: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = clusters
    train, test = labeled_split(y, seed=0)
    args = (x[train], y[train], x[test], y[test])
    assert knn_top1(*args) == 1.0
    assert linear_probe(*args) == 1.0


def test_the_folds_of_a_split_test_every_labeled_item_once() -> None:
    y = np.repeat(np.arange(4), [1, 7, 23, 50])
    y[1::9] = -1  # unlabeled items are in no split; class 0, of one item, is always trained on
    splits = [labeled_split(y, seed=3, fold=fold) for fold in range(fold_count(0.2))]
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested) == sorted(set(tested)) == sorted(set(np.flatnonzero(y != -1)) - {np.flatnonzero(y == 0)[0]})
    for train, test in splits:
        assert not set(train) & set(test) and set(train) | set(test) == set(np.flatnonzero(y != -1))
    assert np.array_equal(splits[0][1], labeled_split(y, seed=3)[1])  # fold 0 is the split of old
    with pytest.raises(ValueError, match="fold must be in"):
        labeled_split(y, fold=5)


def test_probes_are_at_chance_on_random_labels() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(1500, 16)), rng.integers(0, CLASSES, size=1500)
    scores = probe_accuracies(x, y, *labeled_split(y, seed=0))
    assert all(0.03 < score < 0.2 for score in scores.values()), scores  # chance is 0.1; test split ~300


def test_knn_vote_is_weighted_by_similarity() -> None:
    train_x = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])  # one very close item of class 0, two of class 1
    train_y, test_x, test_y = np.array([0, 1, 1]), np.array([[1.0, 0.05]]), np.array([0])
    assert knn_top1(train_x, train_y, test_x, test_y, k=3, temperature=0.07) == 1.0  # exp(sim / T) wins
    assert knn_top1(train_x, train_y, test_x, test_y, k=3, temperature=1e3) == 0.0  # ~ a plain majority
    assert knn_top1(train_x, train_y, test_x, test_y, k=50) == 1.0  # k larger than the training set


def test_labeled_split_is_stratified_deterministic_and_skips_unlabeled() -> None:
    labels = np.concatenate([np.full(50, 0), np.full(30, 1), np.full(20, 2), np.full(40, -1), [3]])
    labels = labels[np.random.default_rng(0).permutation(len(labels))]
    train, test = labeled_split(labels, test_fraction=0.2, seed=5)
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(np.flatnonzero(labels != -1))
    assert [int((labels[test] == c).sum()) for c in range(4)] == [10, 6, 4, 0]  # a class of one stays in train
    again = labeled_split(labels, test_fraction=0.2, seed=5)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not np.array_equal(test, labeled_split(labels, test_fraction=0.2, seed=6)[1])
    with pytest.raises(ValueError):
        labeled_split(np.full(5, -1))


def test_pixel_features_are_standardized(digits16: np.ndarray) -> None:
    features = pixel_features(digits16)
    assert features.shape == (len(digits16), 16 * 16 * 3)
    varying = digits16.reshape(len(digits16), -1).std(axis=0) > 0
    assert np.allclose(features.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(features.std(axis=0)[varying], 1, atol=1e-3)


@pytest.fixture(scope="module")
def trained(digits16: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    """SimCLR on the tiny CNN, 2 epochs over 640 of the 16 px digits: 20 steps of 64."""
    params: Any = get_method("simclr").validate(
        {"backbone": "tiny_cnn", "epochs": 2, "batch_size": 64, "warmup_epochs": 0, "seed": 0}
    )
    workdir = Path(tmp_path_factory.mktemp("simclr"))
    trainer = Trainer("simclr", params, digits16[:640], workdir=workdir, probe_size=256)
    trainer.fit()
    return trainer


def test_a_trained_encoder_is_not_flagged(trained: Trainer) -> None:
    metrics = trained.evaluate_representation()
    assert collapse_warning(metrics, trained.model.backbone.dim) is None, metrics


def test_evaluate_with_labels_on_digits(trained: Trainer, digits16: np.ndarray, tmp_path: Path) -> None:
    random_init = Trainer("simclr", trained.params, digits16[:640], workdir=tmp_path, probe_size=0)  # same seed
    labels, every_digit = load_digits().target, ImageData(digits16)
    result = evaluate_with_labels(
        embedder(trained.model, every_digit, trained.device),
        embedder(random_init.model, every_digit, random_init.device),
        labels,
        baseline=baseline_for("image").featurizer(every_digit),  # type: ignore[union-attr]
    )
    assert result.keys() == {
        "knn_top1",
        "linear_probe",
        "knn_top1_random_init",
        "linear_probe_random_init",
        "knn_top1_baseline",
        "linear_probe_baseline",
        "num_train",
        "num_test",
    }
    assert result["knn_top1_baseline"] > 0.8, result  # raw pixels of digits: a strong reference
    assert result["num_train"] + result["num_test"] == len(digits16)
    assert result["num_test"] == pytest.approx(0.2 * len(digits16), abs=CLASSES)
    assert all(0.1 < result[key] <= 1 for key in result if not key.startswith("num_")), result
    untrained, learned = random_init.model.backbone.state_dict(), trained.model.backbone.state_dict()
    assert untrained.keys() == learned.keys()  # the same architecture, at its seeded random init
    assert not all(torch.equal(untrained[key], learned[key]) for key in learned)
