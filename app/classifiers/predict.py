"""Serving a classifier: its weights from storage (a small in-memory LRU), applied to embedded inputs or to the
stored vectors of its run's items."""

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from app.classifiers.schemas import Prediction
from app.core.cache import BlobCache
from app.core.errors import FieldErrors
from app.embedding_runs.files import open_run
from app.embedding_runs.orm import EmbeddingRun
from selfsup.curation.fewshot import LinearClassifier

CLASSIFIER_FILE = "classifier.npz"  # LinearClassifier.to_arrays
CARD_FILE = "card.json"  # what it was trained on and how well it did


class ClassifierCache:
    """The most recently used classifiers' weights (a few KB to a few MB each), loaded once per id."""

    def __init__(self, capacity: int, *, blobs: BlobCache) -> None:
        self.capacity = capacity
        self.blobs = blobs
        self._entries: OrderedDict[str, LinearClassifier] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, classifier_id: str, key: str) -> LinearClassifier:
        with self._lock:
            if classifier_id in self._entries:
                self._entries.move_to_end(classifier_id)
                return self._entries[classifier_id]
        # Loaded outside the lock: two first requests may both read it, which costs less than serializing all.
        with self.blobs.local(key) as folder, np.load(folder / CLASSIFIER_FILE) as arrays:
            classifier = LinearClassifier.from_arrays(arrays)
        with self._lock:
            self._entries[classifier_id] = classifier
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return classifier


def predictions(classifier: LinearClassifier, vectors: np.ndarray) -> list[Prediction]:
    """(B, D) vectors -> B predictions, each with every class's probability."""
    probabilities = classifier.predict_proba(vectors)  # (B, C)
    best = probabilities.argmax(axis=1)
    return [
        Prediction(
            label=classifier.classes[int(top)], probabilities=dict(zip(classifier.classes, row.tolist(), strict=True))
        )
        for top, row in zip(best, probabilities, strict=True)
    ]


def stored_vectors(blobs: BlobCache, run: EmbeddingRun, items: Sequence[int]) -> np.ndarray:
    """(B, D) float32 stored vectors of the run's ``items``; 422 naming the first index outside the run."""
    for position, index in enumerate(items):
        if not 0 <= index < run.num_items:
            message = f"item {index} is not one of the embedding run's {run.num_items} items"
            raise FieldErrors([(("body", "items", position), message)])
    with open_run(blobs, run) as arrays:
        return np.asarray(arrays.vectors[np.asarray(items, dtype=np.int64)], dtype=np.float32)
