"""Label-based evaluation of a trained method against the weights its run started from and against the classical
baseline of its modality (:mod:`selfsup.eval.baselines`)."""

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.eval.baselines import baseline_for
from selfsup.eval.limits import MIN_LABELED
from selfsup.eval.probes import evaluate_with_labels
from selfsup.eval.representation import embedder
from selfsup.methods.base import SSLMethod
from selfsup.whitening import Whitening


def labeled_report(
    model: SSLMethod,
    initial: SSLMethod,
    data: TrainingData,
    labels: np.ndarray,
    device: torch.device,
    *,
    seed: int,
    whitenings: tuple[Whitening | None, Whitening | None] = (None, None),
) -> dict[str, float | str]:
    """kNN and linear-probe accuracy of ``model``, of ``initial`` and of the modality's baseline (named by
    ``baseline``; absent where the modality has none) on the labeled items, split by ``seed``; {} when the labels
    cannot support a split (fewer than ``MIN_LABELED`` labeled items or a single class).

    ``initial`` is the model as its run started (``Trainer.initial_model()``), scored as ``*_random_init``: its
    seed's random init, or, for a run that continued pretrained weights, those weights, so that the floor is
    always what this training started from and the difference is what the training itself added.
    ``whitenings`` are each one's, for a method that serves its embedding whitened: what is scored is what
    would be served.
    """
    labeled = labels[labels >= 0]
    if len(labeled) < MIN_LABELED or len(np.unique(labeled)) < 2:
        return {}
    initial = initial.to(device)
    baseline = baseline_for(data.modality)
    report: dict[str, float | str] = {}
    report.update(
        evaluate_with_labels(
            embedder(model, data, device, whitening=whitenings[0]),
            embedder(initial, data, device, whitening=whitenings[1]),
            labels,
            seed=seed,
            baseline=baseline.featurizer(data) if baseline else None,
        )
    )
    if baseline is not None:
        report["baseline"] = baseline.name
    return report
