"""Optional labels: for images, class folders or a ``labels.csv`` mapping file name to label; for text and
tables, a label field or column.

Labels are never used for training. They let a job report how well its encoder separates the classes
(kNN and linear probes) next to the same architecture at random initialization.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from app.core.errors import Unprocessable
from selfsup.eval.limits import MIN_LABELED

LABELS_FILE = "labels.csv"
FILE_COLUMNS = ("file", "filename", "path", "image")
LABEL_COLUMNS = ("label", "class")
UNLABELED = -1


@dataclass(frozen=True)
class Labels:
    """Per-item class indices (-1 where unlabeled) and the class names they index."""

    indices: np.ndarray  # (N,) int64
    classes: list[str]
    source: str

    @property
    def num_labeled(self) -> int:
        return int((self.indices != UNLABELED).sum())

    def summary(self) -> dict[str, object]:
        """What a dataset's details say about its labels."""
        found = {"source": self.source, "num_labeled": self.num_labeled, "classes": self.classes}
        return {**found, **evaluation_fitness(self.classes, self.num_labeled)}


def evaluation_fitness(classes: list[str], num_labeled: int) -> dict[str, object]:
    """Whether labels can score an encoder (the engine's probes run only then) and, if not, a note on why."""
    if len(classes) < 2:
        note = f"only one class ({classes[0]!r}): kNN and linear probes need two or more, so none run"
    elif num_labeled < MIN_LABELED:
        note = f"only {num_labeled} labeled items: probes need at least {MIN_LABELED}, so none run"
    else:
        return {"usable_for_evaluation": True}
    return {"usable_for_evaluation": False, "note": note}


def labels_from_folders(names: list[str]) -> Labels | None:
    """Each image's parent folder is its class, when every image sits in one and there are two or more."""
    parents = [PurePosixPath(name).parent.name for name in names]
    if not all(parents) or len(set(parents)) < 2:
        return None
    return _indexed(parents, "folders")


def labels_from_csv(data: bytes, names: list[str]) -> Labels:
    """Parse ``labels.csv`` (a header naming a file column and a label column) against the archive's images."""
    rows = _csv_rows(data)
    by_path = {name: i for i, name in enumerate(names)}
    by_basename = _unique_basenames(names)
    labels: list[str | None] = [None] * len(names)
    for line, (file, label) in enumerate(rows, start=2):
        index = by_path.get(file.removeprefix("./"), by_basename.get(PurePosixPath(file).name))
        if index is None:
            raise Unprocessable(f"{LABELS_FILE} line {line}: no image named {file!r} in the archive")
        labels[index] = label
    return _indexed(labels, LABELS_FILE)


def _csv_rows(data: bytes) -> list[tuple[str, str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unprocessable(f"{LABELS_FILE}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(reader, [])]
    file_col = next((header.index(c) for c in FILE_COLUMNS if c in header), None)
    label_col = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
    if file_col is None or label_col is None:
        raise Unprocessable(f"{LABELS_FILE}: the header must name a file column and a label column, e.g. 'file,label'")
    rows = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(file_col, label_col) or not row[label_col].strip():
            raise Unprocessable(f"{LABELS_FILE} line {line}: expected a file name and a label")
        rows.append((row[file_col].strip(), row[label_col].strip()))
    return rows


def _unique_basenames(names: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        base = PurePosixPath(name).name
        counts[base] = counts.get(base, 0) + 1
    return {PurePosixPath(n).name: i for i, n in enumerate(names) if counts[PurePosixPath(n).name] == 1}


def labels_from_values(values: list[str | None], source: str) -> Labels | None:
    """One label per item (None where unlabeled) -> indexed labels; None when no item has one."""
    if all(value is None for value in values):
        return None
    return _indexed(values, source)


def labels_from_codes(codes: np.ndarray, names: list[str], source: str) -> Labels | None:
    """(N,) codes indexing ``names`` (-1 where unlabeled) -> labels indexing the sorted names; None when no item
    has one. The compact form a streamed upload collects its labels in."""
    if not names:
        return None
    order = np.argsort(np.array(names, dtype=object))  # code -> its rank among the sorted names
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    indices = np.where(codes == UNLABELED, UNLABELED, rank[np.maximum(codes, 0)])
    return Labels(indices=indices.astype(np.int64), classes=sorted(names), source=source)


def _indexed(labels: list[str | None] | list[str], source: str) -> Labels:
    classes = sorted({label for label in labels if label is not None})
    lookup = {name: i for i, name in enumerate(classes)}
    indices = np.array([UNLABELED if label is None else lookup[label] for label in labels], dtype=np.int64)
    return Labels(indices=indices, classes=classes, source=source)
