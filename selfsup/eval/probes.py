"""Label-based evaluation, for datasets that happen to carry labels: kNN and linear probes on frozen features.

Labels are only ever used here, after training, to score a representation; no method trains on them.
Features are (N, D) float arrays, or sparse CSR matrices (a baseline's TF-IDF or one-hot columns, see
:mod:`selfsup.eval.baselines`), and labels (N,) int arrays, with -1 marking an unlabeled item. This module
imports scikit-learn, so it is kept out of the training loop's imports.
"""

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler, normalize
from threadpoolctl import threadpool_limits

from selfsup.eval.limits import MAX_PROBE_ITEMS

Features: TypeAlias = np.ndarray | sparse.csr_matrix  # (N, D)
Embedder = Callable[[np.ndarray], Features]  # (N,) item indices -> (N, D) float features

KNN_CHUNK = 1024  # test rows per similarity block, so memory stays at 1024 x N_train


def knn_top1(
    train_x: Features,
    train_y: np.ndarray,
    test_x: Features,
    test_y: np.ndarray,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of a weighted cosine kNN classifier, as in InstDisc (Wu et al., 2018, "Unsupervised
    Feature Learning via Non-Parametric Instance Discrimination") and DINO (Caron et al., 2021).

    Each test item takes its ``k`` most cosine-similar training items; each votes for its label with weight
    exp(similarity / ``temperature``), and the label with the largest total wins.
    """
    train, test = normalize(as_features(train_x)), normalize(as_features(test_x))  # unit rows (a zero row stays 0)
    labels = torch.as_tensor(train_y, dtype=torch.long)
    num_classes = int(max(np.max(train_y), np.max(test_y))) + 1
    k = min(k, train.shape[0])
    predictions = []
    for start in range(0, test.shape[0], KNN_CHUNK):
        similarity, neighbours = _similarity(test[start : start + KNN_CHUNK], train).topk(k, dim=1)  # (b, k)
        weights = (similarity / temperature).exp()
        votes = torch.zeros(len(similarity), num_classes).scatter_add_(1, labels[neighbours], weights)  # (b, C)
        predictions.append(votes.argmax(dim=1))
    return float((torch.cat(predictions).numpy() == np.asarray(test_y)).mean())


def as_features(x: Features) -> Features:
    """float32 features, sparse kept sparse (CSR)."""
    return sparse.csr_matrix(x, dtype=np.float32) if sparse.issparse(x) else np.asarray(x, dtype=np.float32)


def _similarity(block: Features, train: Features) -> torch.Tensor:
    """(b, N_train) dot products of unit rows: their cosine similarities."""
    product = block @ train.T
    dense = sparse.csr_matrix(product).toarray() if sparse.issparse(product) else product
    return torch.from_numpy(np.asarray(dense))


def linear_probe(
    train_x: Features, train_y: np.ndarray, test_x: Features, test_y: np.ndarray, *, max_iter: int = 2000
) -> float:
    """Top-1 accuracy of a multinomial logistic regression (L2, C=1) on standardized frozen features.

    The standardization is fitted on the training split only. Sparse features are scaled without centering
    (centering would make them dense); that changes no prediction, since a shift of every feature is absorbed by
    the intercept, which the lbfgs solver does not penalize. The fit runs on one thread: at probe sizes
    (thousands x hundreds) OpenMP threads lose more to synchronization than they gain, and on a busy
    machine catastrophically so (1438 x 128, 10 classes: 2.7 s on 2 threads, 0.05 s on 1).
    """
    scaler = StandardScaler(with_mean=not sparse.issparse(train_x)).fit(train_x)
    with threadpool_limits(limits=1):
        classifier = LogisticRegression(max_iter=max_iter).fit(scaler.transform(train_x), train_y)
        return float(classifier.score(scaler.transform(test_x), test_y))


def labeled_split(
    labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0, *, fold: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, test) indices into ``labels`` over the labeled items (label != -1), both sorted.

    Each class sends round(``test_fraction`` x its size) of its items, the ``fold``-th such block of a
    permutation seeded with ``seed``, to the test split; the folds 0 .. round(1 / ``test_fraction``) - 1 test
    each item once (the last takes a class's remainder). A class of one item stays in training.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    last = fold_count(test_fraction) - 1
    if not 0 <= fold <= last:
        raise ValueError(f"fold must be in [0, {last}] for a test fraction of {test_fraction}, got {fold}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels[labels != -1]):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = round(test_fraction * len(members)) if len(members) > 1 else 0
        end = len(members) if fold == last and cut else (fold + 1) * cut
        tested = np.zeros(len(members), dtype=bool)
        tested[fold * cut : end] = True
        test.append(members[tested])
        train.append(members[~tested])
    if not train:
        raise ValueError("no labeled items (every label is -1)")
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def fold_count(test_fraction: float) -> int:
    """How many folds of :func:`labeled_split` there are at ``test_fraction``: 5 at 0.2."""
    return max(1, round(1 / test_fraction))


def probe_accuracies(features: Features, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """``knn_top1`` and ``linear_probe`` of (N, D) ``features`` on the given index split."""
    args = (features[train], labels[train], features[test], labels[test])
    return {"knn_top1": knn_top1(*args), "linear_probe": linear_probe(*args)}


def mean_probe_accuracies(
    features: Features, labels: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """:func:`probe_accuracies` averaged over (train, test) ``splits``, e.g. the folds of :func:`labeled_split`."""
    per_split = [probe_accuracies(features, labels, train, test) for train, test in splits]
    return {name: float(np.mean([scores[name] for scores in per_split])) for name in per_split[0]}


def capped_labels(labels: np.ndarray, max_items: int, seed: int = 0) -> np.ndarray:
    """``labels`` with all but a seeded draw of ``max_items`` labeled items marked unlabeled (-1), when more
    are labeled; the classes keep about their proportions."""
    labeled = np.flatnonzero(labels != -1)
    if len(labeled) <= max_items:
        return labels
    kept = np.random.default_rng(seed).choice(labeled, size=max_items, replace=False)
    capped = np.full_like(labels, -1)
    capped[kept] = labels[kept]
    return capped


def evaluate_with_labels(
    embed_trained: Embedder,
    embed_random: Embedder,
    labels: np.ndarray,
    seed: int = 0,
    *,
    baseline: Embedder | None = None,
    max_items: int = MAX_PROBE_ITEMS,
    folds: int = 1,
) -> dict[str, float]:
    """kNN top-1 and linear-probe accuracy of a trained encoder, of its architecture at random init and, when
    given, of a classical ``baseline``'s features (see :mod:`selfsup.eval.baselines`).

    ``labels`` (N,) has one entry per item of the data the embedders read, -1 for unlabeled; at most
    ``max_items`` labeled items (a draw seeded with ``seed``) are split 80/20 by :func:`labeled_split`, the same
    split for all three. Keys: ``knn_top1``, ``linear_probe``, ``knn_top1_random_init``,
    ``linear_probe_random_init``, with a baseline ``knn_top1_baseline`` and ``linear_probe_baseline``, and
    ``num_train``, ``num_test``. The random-init numbers are the floor a pretraining run has to clear; the
    baseline's are what it takes for pretraining to have been worth it.

    ``folds`` > 1 (at most 5) averages each score over that many folds of the split (``labeled_split``'s
    ``fold``): on a small set one test split of a few hundred items moves a score by a point per two items.
    """
    labels = capped_labels(np.asarray(labels), max_items, seed)
    labeled = np.flatnonzero(labels != -1)  # sorted: featurized in item order, reading a memory map front to back
    splits = [labeled_split(labels, seed=seed, fold=fold) for fold in range(folds)]
    # positions into ``labeled`` of each fold's items
    positions = [(np.searchsorted(labeled, train), np.searchsorted(labeled, test)) for train, test in splits]
    result: dict[str, float] = {"num_train": len(splits[0][0]), "num_test": len(splits[0][1])}
    featurizers = {"": embed_trained, "_random_init": embed_random}
    if baseline is not None:
        featurizers["_baseline"] = baseline
    for suffix, featurize in featurizers.items():
        scores = mean_probe_accuracies(as_features(featurize(labeled)), labels[labeled], positions)  # (L, D) features
        result.update({f"{name}{suffix}": value for name, value in scores.items()})
    return result
