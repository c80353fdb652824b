"""Evaluating learned representations.

``metrics`` holds label-free measures (RankMe, alignment, uniformity, embedding std, a collapse warning) and
``representation`` the probe the Trainer runs with them after every epoch. ``probes`` scores a representation
with labels (kNN and linear probes); it imports scikit-learn, so import it as ``selfsup.eval.probes``.
"""

from selfsup.eval.metrics import alignment, collapse_warning, embedding_std, rankme, uniformity
from selfsup.eval.representation import (
    DEFAULT_PROBE_SIZE,
    NonFiniteEmbeddings,
    RepresentationProbe,
    embed_items,
    embedder,
    evaluating,
)

__all__ = [
    "DEFAULT_PROBE_SIZE",
    "NonFiniteEmbeddings",
    "RepresentationProbe",
    "alignment",
    "collapse_warning",
    "embed_items",
    "embedder",
    "embedding_std",
    "evaluating",
    "rankme",
    "uniformity",
]
