"""Evaluating learned representations.

``metrics`` holds label-free measures (RankMe, alignment, uniformity, embedding std, mean cosine, participation
ratio, a collapse warning) and ``representation`` the probe the Trainer runs with them after every epoch.
``probes`` scores a representation with labels (kNN and linear probes), and ``baselines`` holds the classical
features of each modality scored beside it; both import scikit-learn, so import them as ``selfsup.eval.probes``
and ``selfsup.eval.baselines``.

The names below are imported on first use: ``selfsup.eval.limits`` must be importable without torch.
"""

from typing import TYPE_CHECKING

from selfsup.lazy import lazy_exports

if TYPE_CHECKING:
    from selfsup.eval.metrics import (
        alignment,
        collapse_warning,
        embedding_std,
        mean_cosine,
        neighbour_agreement,
        participation_ratio,
        rankme,
        uniformity,
    )
    from selfsup.eval.representation import (
        DEFAULT_PROBE_SIZE,
        NonFiniteEmbeddings,
        RepresentationProbe,
        embed_items,
        embedder,
        evaluating,
    )

_EXPORTS = {
    "alignment": "selfsup.eval.metrics",
    "collapse_warning": "selfsup.eval.metrics",
    "embedding_std": "selfsup.eval.metrics",
    "mean_cosine": "selfsup.eval.metrics",
    "participation_ratio": "selfsup.eval.metrics",
    "neighbour_agreement": "selfsup.eval.metrics",
    "rankme": "selfsup.eval.metrics",
    "uniformity": "selfsup.eval.metrics",
    "DEFAULT_PROBE_SIZE": "selfsup.eval.representation",
    "NonFiniteEmbeddings": "selfsup.eval.representation",
    "RepresentationProbe": "selfsup.eval.representation",
    "embed_items": "selfsup.eval.representation",
    "embedder": "selfsup.eval.representation",
    "evaluating": "selfsup.eval.representation",
}

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
    "mean_cosine",
    "neighbour_agreement",
    "participation_ratio",
    "rankme",
    "uniformity",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
