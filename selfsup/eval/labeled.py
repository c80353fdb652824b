"""Label-based evaluation of a trained method against the same architecture at random initialization and against
the classical baseline of its modality (:mod:`selfsup.eval.baselines`)."""

from typing import Any

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.encoders import encoder_from_spec
from selfsup.eval.baselines import baseline_for
from selfsup.eval.limits import MIN_LABELED
from selfsup.eval.probes import evaluate_with_labels
from selfsup.eval.representation import embedder
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import MethodSpec


def random_init_like(spec: MethodSpec, model: SSLMethod, seed: int) -> SSLMethod:
    """A fresh, untrained instance of the same method and architecture (its own seed, the caller's RNG kept).

    The encoder is rebuilt from the trained one's spec, not by the data: a run that started from pretrained
    weights is compared with its architecture at random init, not with its pretrained start.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return spec.method_cls(model.params, encoder_from_spec(model.backbone.spec.to_dict()))


def labeled_report(
    model: SSLMethod, spec: MethodSpec, params: Any, data: TrainingData, labels: np.ndarray, device: torch.device
) -> dict[str, float | str]:
    """kNN and linear-probe accuracy of ``model``, of a random-init twin and of the modality's baseline (named by
    ``baseline``; absent where the modality has none) on the labeled items; {} when the labels cannot support a
    split (fewer than ``MIN_LABELED`` labeled items or a single class)."""
    labeled = labels[labels >= 0]
    if len(labeled) < MIN_LABELED or len(np.unique(labeled)) < 2:
        return {}
    twin = random_init_like(spec, model, seed=params.seed + 1).to(device)
    baseline = baseline_for(data.modality)
    report: dict[str, float | str] = {}
    report.update(
        evaluate_with_labels(
            embedder(model, data, device),
            embedder(twin, data, device),
            labels,
            seed=params.seed,
            baseline=baseline.featurizer(data) if baseline else None,
        )
    )
    if baseline is not None:
        report["baseline"] = baseline.name
    return report
