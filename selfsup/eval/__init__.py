"""Evaluating learned representations.

``metrics`` holds label-free measures (RankMe, alignment, uniformity, embedding std, a collapse warning) and
``representation`` the probe the Trainer runs with them after every epoch. ``probes`` scores a representation
with labels (kNN and linear probes); it imports scikit-learn, so import it as ``selfsup.eval.probes``.

The names below are imported on first use: ``selfsup.eval.limits`` must be importable without torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selfsup.eval.metrics import alignment, collapse_warning, embedding_std, rankme, uniformity
    from selfsup.eval.representation import (
        DEFAULT_PROBE_SIZE,
        NonFiniteEmbeddings,
        RepresentationProbe,
        embed_items,
        embedder,
        evaluating,
    )

_METRICS = ("alignment", "collapse_warning", "embedding_std", "rankme", "uniformity")
_REPRESENTATION = (
    "DEFAULT_PROBE_SIZE",
    "NonFiniteEmbeddings",
    "RepresentationProbe",
    "embed_items",
    "embedder",
    "evaluating",
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


def __getattr__(name: str) -> Any:
    if name in _METRICS:
        return getattr(import_module("selfsup.eval.metrics"), name)
    if name in _REPRESENTATION:
        return getattr(import_module("selfsup.eval.representation"), name)
    raise AttributeError(f"module 'selfsup.eval' has no attribute {name!r}")
