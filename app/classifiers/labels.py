"""The labeled items a classifier is trained on: read from a request (a JSON object or an ``index,label`` CSV),
checked against the embedding run, and stored for the worker as plain arrays."""

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.config import Settings
from app.core.errors import FieldErrors

DATASET_LABELS = "dataset"  # the run's own labels (its dataset's), instead of labels sent with the request
MAX_LABEL_CHARS = 200
LABELS_FIELD = ("body", "labels")
CSV_HEADER = ["index", "label"]


@dataclass(frozen=True)
class LabelLimits:
    max_labels: int
    max_classes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "LabelLimits":
        return cls(max_labels=settings.classifier_max_labels, max_classes=settings.classifier_max_classes)


@dataclass(frozen=True)
class LabeledItems:
    indices: np.ndarray  # (L,) int64 item indices of the run, ascending
    names: list[str]  # L labels, names[i] of item indices[i]

    def save(self, path: Path) -> None:
        np.savez(path, indices=self.indices, names=np.array(self.names, dtype=str))

    @classmethod
    def load(cls, path: Path) -> "LabeledItems":
        with np.load(path) as arrays:
            return cls(indices=arrays["indices"].astype(np.int64), names=[str(n) for n in arrays["names"]])


def labels_from_mapping(raw: Mapping[str, str], *, num_items: int, limits: LabelLimits) -> LabeledItems:
    """``{"<item index>": "<label>"}`` -> the labeled items; 422 naming the first offending key."""
    if len(raw) > limits.max_labels:
        raise FieldErrors([(LABELS_FIELD, f"{len(raw)} labels, more than the {limits.max_labels} allowed")])
    by_index: dict[int, str] = {}
    for key, label in raw.items():
        index = _item_index(key, num_items)
        if index in by_index:
            raise FieldErrors([((*LABELS_FIELD, key), f"item {index} is labeled twice")])
        by_index[index] = _checked_label(key, label)
    return _checked_items(by_index, limits)


def labels_from_csv(data: bytes, *, num_items: int, limits: LabelLimits) -> LabeledItems:
    """An ``index,label`` CSV (with that header) -> the labeled items; 422 naming the offending line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FieldErrors([(LABELS_FIELD, "the labels CSV is not UTF-8 text")]) from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or [cell.strip().lower() for cell in header] != CSV_HEADER:
        raise FieldErrors([(LABELS_FIELD, "the labels CSV must start with the header 'index,label'")])
    mapping: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != 2:
            raise FieldErrors([((*LABELS_FIELD, f"line {line}"), f"expected 2 cells (index,label), got {len(row)}")])
        key = row[0].strip()
        if key in mapping or len(mapping) >= limits.max_labels:
            problem = f"item {key} is labeled twice" if key in mapping else f"more than {limits.max_labels} labels"
            raise FieldErrors([((*LABELS_FIELD, f"line {line}"), problem)])
        mapping[key] = row[1].strip()
    return labels_from_mapping(mapping, num_items=num_items, limits=limits)


def _item_index(key: str, num_items: int) -> int:
    if not (key.isascii() and key.isdigit()) or len(key) > 12:
        raise FieldErrors([((*LABELS_FIELD, key[:40]), "an item index must be a non-negative integer")])
    index = int(key)
    if index >= num_items:
        message = f"item {index} is past the embedding run's {num_items} items (0 to {num_items - 1})"
        raise FieldErrors([((*LABELS_FIELD, key), message)])
    return index


def _checked_label(key: str, label: object) -> str:
    if not isinstance(label, str) or not label.strip():
        raise FieldErrors([((*LABELS_FIELD, key), "a label must be a non-empty string")])
    if len(label) > MAX_LABEL_CHARS:
        raise FieldErrors([((*LABELS_FIELD, key), f"a label may have at most {MAX_LABEL_CHARS} characters")])
    return label


def _checked_items(by_index: dict[int, str], limits: LabelLimits) -> LabeledItems:
    classes = set(by_index.values())
    if len(classes) < 2:
        raise FieldErrors([(LABELS_FIELD, f"a classifier needs at least 2 classes, got {len(classes)}")])
    if len(classes) > limits.max_classes:
        raise FieldErrors([(LABELS_FIELD, f"{len(classes)} classes, more than the {limits.max_classes} allowed")])
    indices = np.array(sorted(by_index), dtype=np.int64)
    return LabeledItems(indices=indices, names=[by_index[int(i)] for i in indices])


def check_dataset_labels(details: Mapping[str, object], *, run_id: str, limits: LabelLimits) -> None:
    """A run's own labels (``details["labels"]``) can train a classifier: 2 or more classes, within the limits."""
    summary = details.get("labels")
    if not isinstance(summary, Mapping):
        raise FieldErrors([(LABELS_FIELD, f"embedding run {run_id!r} has no labels of its dataset; send labels")])
    classes, labeled = list(summary.get("classes") or []), int(summary.get("num_labeled") or 0)
    if len(classes) < 2 or labeled < 2:
        message = f"embedding run {run_id!r} has {labeled} labeled items in {len(classes)} classes; 2 classes needed"
        raise FieldErrors([(LABELS_FIELD, message)])
    if len(classes) > limits.max_classes or labeled > limits.max_labels:
        message = f"the run's {labeled} labels in {len(classes)} classes are past the limits of this service"
        raise FieldErrors([(LABELS_FIELD, message)])
