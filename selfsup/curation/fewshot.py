"""Few-shot classifiers on frozen embeddings: a logistic regression per labeled set, stored as plain arrays.

The classifier is kept as its weight matrix and bias rather than a pickled scikit-learn object, so that
serving it is one matmul and a softmax (no scikit-learn at inference, no pickle to trust) and it saves to an
``.npz``.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

PREDICT_CHUNK = 65_536  # rows per matmul: bounds the float32 copy of a float16 or memory-mapped input


@dataclass(frozen=True)
class LinearClassifier:
    """``softmax(vectors @ weight.T + bias)`` over ``classes``.

    classes: sorted class names; weight: (C, D) float32; bias: (C,) float32. A binary problem stores both
    rows (the first all zeros), so the one softmax gives the sigmoid scikit-learn's binary model computes.
    """

    classes: list[str]
    weight: np.ndarray
    bias: np.ndarray

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """(B, D) -> (B, C) float32 probabilities, rows summing to 1."""
        if vectors.ndim != 2 or vectors.shape[1] != self.weight.shape[1]:
            raise ValueError(f"vectors must be (B, {self.weight.shape[1]}), got {vectors.shape}")
        out = np.empty((vectors.shape[0], len(self.classes)), dtype=np.float32)
        for start in range(0, vectors.shape[0], PREDICT_CHUNK):
            chunk = np.asarray(vectors[start : start + PREDICT_CHUNK], dtype=np.float32)
            logits = chunk @ self.weight.T + self.bias  # (b, C)
            logits -= logits.max(axis=1, keepdims=True)  # stable softmax
            np.exp(logits, out=logits)
            out[start : start + len(chunk)] = logits / logits.sum(axis=1, keepdims=True)
        return out

    def predict(self, vectors: np.ndarray) -> list[str]:
        """(B, D) -> B class names, the most probable of each row."""
        best = self.predict_proba(vectors).argmax(axis=1)
        return [self.classes[i] for i in best]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays ``np.savez`` stores; ``from_arrays`` reads them back."""
        return {"classes": np.array(self.classes, dtype=str), "weight": self.weight, "bias": self.bias}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "LinearClassifier":
        classes = [str(name) for name in arrays["classes"]]
        weight = np.asarray(arrays["weight"], dtype=np.float32)
        bias = np.asarray(arrays["bias"], dtype=np.float32)
        if weight.shape[0] != len(classes) or bias.shape != (len(classes),):
            raise ValueError(f"{len(classes)} classes but weight {weight.shape} and bias {bias.shape}")
        return cls(classes=classes, weight=weight, bias=bias)


@dataclass(frozen=True)
class FitResult:
    classifier: LinearClassifier
    cv_accuracy: float | None  # stratified k-fold accuracy; None when a class has fewer than 2 examples
    cv_folds: int  # folds used (0 when none)
    class_counts: dict[str, int]


def fit_classifier(
    vectors: np.ndarray,
    labels: Sequence[str],
    *,
    seed: int = 0,
    folds: int = 5,
    regularization: float = 1.0,
) -> FitResult:
    """Fit a logistic regression on (N, D) labeled vectors and estimate its accuracy by stratified k-fold CV.

    regularization: L2 strength, scikit-learn's ``1 / C`` (larger = simpler model).
    """
    features, names = _checked_training_set(vectors, labels, regularization)
    counts = Counter(names)
    model = _logistic_regression(seed, regularization).fit(features, names)
    cv_accuracy, cv_folds = _cross_validate(features, names, seed, folds, regularization, min(counts.values()))
    return FitResult(
        classifier=_from_sklearn(model),
        cv_accuracy=cv_accuracy,
        cv_folds=cv_folds,
        class_counts={name: counts[name] for name in sorted(counts)},
    )


def _checked_training_set(
    vectors: np.ndarray, labels: Sequence[str], regularization: float
) -> tuple[np.ndarray, np.ndarray]:
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be (N, D), got shape {vectors.shape}")
    if len(labels) != vectors.shape[0]:
        raise ValueError(f"{vectors.shape[0]} vectors but {len(labels)} labels")
    if not regularization > 0:
        raise ValueError(f"regularization must be > 0, got {regularization}")
    names = np.array([str(label) for label in labels], dtype=object)
    if len(set(names)) < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {sorted(set(names))}")
    return np.asarray(vectors, dtype=np.float32), names


def _logistic_regression(seed: int, regularization: float) -> LogisticRegression:
    # Balanced class weights: a few-shot labeled set is rarely balanced (a user labels what they see, and
    # diversity selection picks unevenly), and unweighted the largest class would win every unsure item.
    return LogisticRegression(
        C=1.0 / regularization, class_weight="balanced", solver="lbfgs", max_iter=1000, random_state=seed
    )


def _cross_validate(
    features: np.ndarray, names: np.ndarray, seed: int, folds: int, regularization: float, smallest: int
) -> tuple[float | None, int]:
    n_splits = min(folds, smallest)
    if n_splits < 2:
        return None, 0
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    correct = 0
    for train, test in splitter.split(features, names):
        model = _logistic_regression(seed, regularization).fit(features[train], names[train])
        correct += int((model.predict(features[test]) == names[test]).sum())
    return correct / len(names), n_splits


def _from_sklearn(model: LogisticRegression) -> LinearClassifier:
    classes = [str(name) for name in model.classes_]  # scikit-learn sorts them
    weight = np.asarray(model.coef_, dtype=np.float32)
    bias = np.asarray(model.intercept_, dtype=np.float32)
    if len(classes) == 2:  # one row scores class 1 against class 0: softmax([0, z]) == sigmoid(z)
        weight = np.concatenate([np.zeros_like(weight), weight])
        bias = np.concatenate([np.zeros_like(bias), bias])
    return LinearClassifier(classes=classes, weight=weight, bias=bias)
