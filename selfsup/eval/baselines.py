"""The classical reference each modality's learned representation has to beat, scored by the same probes.

A trained encoder that only clears its own random init may still lose to features that need no training at all:
on small text sets a self-supervised transformer routinely stays below TF-IDF. So, next to the random-init twin,
the labeled evaluation scores one registered baseline per modality with the same kNN and linear probes on the
same split. A baseline turns item indices of a :class:`~selfsup.data.base.TrainingData` into features, dense
(N, F) float32 or a sparse CSR matrix (TF-IDF, one-hot columns), which the probes take as they are.

Image-text (clip) data has no baseline on purpose: its datasets carry no labels, and its retrieval figures have
no classical counterpart without training one (TF-IDF of captions and pixels live in unrelated spaces; matching
them needs a learned map such as CCA, which is a model of its own, not a fixed featurization). Its floor is the
random-init twin's recall and chance, k / N.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer

from selfsup.data.base import TrainingData
from selfsup.eval.limits import MAX_BASELINE_FIT_ITEMS
from selfsup.eval.probes import Features

if TYPE_CHECKING:
    from selfsup.data.image_data import ImageData
    from selfsup.tabular.data import TableData
    from selfsup.text.data import TextData

Featurize = Callable[[Any, np.ndarray], Features]  # (data, sorted item indices) -> features

MAX_PIXEL_SIDE = 32  # larger images are average-pooled to 32 x 32 x 3 = 3072 features (CIFAR's size)
PIXEL_CHUNK = 1024  # images pooled at once


@dataclass(frozen=True)
class Baseline:
    name: str  # as reports and summaries say it: "raw pixels", "TF-IDF", ...
    featurize: Featurize

    def featurizer(self, data: TrainingData) -> Callable[[np.ndarray], Features]:
        """Item indices of ``data`` -> this baseline's features: what the probes score."""
        return partial(self.featurize, data)


BASELINES: dict[str, Baseline] = {}


def register_baseline(modality: str, name: str) -> Callable[[Featurize], Featurize]:
    """Declare ``featurize`` the baseline of ``modality``'s data (one per modality)."""

    def register(featurize: Featurize) -> Featurize:
        if modality in BASELINES:
            raise ValueError(f"modality {modality!r} already has a baseline: {BASELINES[modality].name}")
        BASELINES[modality] = Baseline(name, featurize)
        return featurize

    return register


def baseline_for(modality: str) -> Baseline | None:
    return BASELINES.get(modality)


def fitting_items(count: int, limit: int = MAX_BASELINE_FIT_ITEMS) -> np.ndarray:
    """At most ``limit`` item indices spread evenly over ``count`` items: what an unsupervised baseline is fitted
    on, as the encoder was pretrained on every item (the probe items' test split included)."""
    return np.arange(0, count, max(1, -(-count // limit)))


def pixel_features(images: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, 3 s^2) flattened pixels, s = min(S, ``MAX_PIXEL_SIDE``) (average-pooled when
    smaller than S), each feature standardized over the N images."""
    side = min(int(images.shape[1]), MAX_PIXEL_SIDE)
    chunks = []
    for start in range(0, len(images), PIXEL_CHUNK):
        block = torch.from_numpy(np.array(images[start : start + PIXEL_CHUNK], dtype=np.float32)).permute(0, 3, 1, 2)
        pooled = F.adaptive_avg_pool2d(block, side) if side < images.shape[1] else block
        chunks.append(pooled.permute(0, 2, 3, 1).reshape(len(block), -1).numpy())  # (b, s * s * 3)
    flat = np.concatenate(chunks) if chunks else np.zeros((0, 3 * side * side), np.float32)
    return (flat - flat.mean(axis=0)) / (flat.std(axis=0) + 1e-6)


@register_baseline("image", "raw pixels")
def _raw_pixels(data: "ImageData", items: np.ndarray) -> Features:
    """Standardized over the probe items themselves: unsupervised, like the pretraining that saw them all."""
    return pixel_features(data.images[items])


def token_counts(data: "TextData", items: np.ndarray) -> sparse.csr_matrix:
    """(len(items), vocabulary) counts of each token id in each text, the special tokens (padding, framing,
    mask) left out: the bag of words of exactly what the encoder reads."""
    ids = np.asarray(data.ids[items])  # (n, L)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    columns = ids.ravel()
    keep = ~np.isin(columns, data.special.ids())
    shape = (len(ids), data.tokenizer.get_vocab_size())
    values = np.ones(int(keep.sum()), dtype=np.float32)
    return sparse.csr_matrix((values, (rows[keep], columns[keep])), shape=shape)  # duplicates summed: counts


@register_baseline("text", "TF-IDF")
def _tf_idf(data: "TextData", items: np.ndarray) -> Features:
    """TF-IDF with sublinear tf of the texts' tokens, the IDF fitted on (a sample of) every pretraining text.

    The terms are the dataset's own token ids rather than words re-split from the raw texts: the same input,
    cut at the same ``max_length``, that the encoder is judged on (on the tests' docstrings, WordPiece-token and
    word TF-IDF score within a few points of each other). This is scikit-learn's ``TfidfVectorizer`` with its
    counting step done on the ids directly (``TfidfVectorizer`` is ``CountVectorizer`` + ``TfidfTransformer``).
    """
    transformer = TfidfTransformer(sublinear_tf=True).fit(token_counts(data, fitting_items(len(data))))
    return sparse.csr_matrix(transformer.transform(token_counts(data, items)), dtype=np.float32)


@register_baseline("tabular", "standardized columns")
def _standardized_columns(data: "TableData", items: np.ndarray) -> Features:
    """The encoded numerics (standardized by the schema at ingest, missing imputed as the mean) next to a one-hot
    block per categorical column, its missing and unknown codes included."""
    numeric = sparse.csr_matrix(np.asarray(data.numeric[items], dtype=np.float32))  # (n, Fn)
    codes = np.asarray(data.categorical[items])  # (n, Fc)
    sizes = np.asarray(data.schema.cardinalities, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    rows = np.repeat(np.arange(len(codes)), codes.shape[1])
    columns = (codes + offsets).ravel()
    shape = (len(codes), int(sizes.sum()))
    one_hot = sparse.csr_matrix((np.ones(len(columns), dtype=np.float32), (rows, columns)), shape=shape)
    return sparse.hstack([numeric, one_hot], format="csr", dtype=np.float32)
