"""What a job reports about its encoder: the engine's metrics made JSON-ready, with a collapse warning and,
when the dataset carries labels, probe accuracies next to the run's initial weights and the modality's classical
baseline (named by ``baseline``)."""

from pathlib import Path
from typing import Any

import numpy as np

from app.datasets.ingest import LABELS_ARRAY
from selfsup.eval import collapse_warning
from selfsup.eval.labeled import labeled_report
from selfsup.train.loop import Trainer
from selfsup.train.whiten import fit_served_whitening


def reportable(metrics: dict[str, Any], dim: int) -> dict[str, Any]:
    """Rounded numbers (names, such as the baseline's, kept as they are) plus, when the label-free metrics show
    a collapsing representation, a ``warning``."""
    report = {key: value if isinstance(value, str) else round(float(value), 6) for key, value in metrics.items()}
    if "rankme" in metrics and (warning := collapse_warning(metrics, dim)):
        report["warning"] = warning
    return report


def dataset_labels(dataset_dir: Path) -> np.ndarray | None:
    path = dataset_dir / LABELS_ARRAY
    return np.load(path) if path.is_file() else None


def _labeled(trainer: Trainer, labels: np.ndarray) -> dict[str, float | str]:
    """Probes of the embeddings as served: a method that serves them whitened is scored whitened, and so are its
    initial weights, each with a whitening of its own, so the difference stays what training added."""
    initial = trainer.initial_model().to(trainer.device)
    whitenings = (trainer.served_whitening(), fit_served_whitening(initial, trainer.data, trainer.device))
    seed = trainer.params.seed
    return labeled_report(
        trainer.model, initial, trainer.data, labels, trainer.device, seed=seed, whitenings=whitenings
    )


def final_report(
    trainer: Trainer, metrics: dict[str, float], labels: np.ndarray | None, heldout: Any = None
) -> dict[str, Any]:
    """The last epoch's metrics, plus labeled probes of the trained encoder vs its initial weights and vs the modality's
    baseline where possible, and for image-text models retrieval recall@1/5 in both directions on the held-out
    pairs."""
    final: dict[str, Any] = dict(metrics, embedding_dim=trainer.model.embedding_dim)  # "RankMe 84 of 128"
    if heldout is not None:
        from selfsup.pairs.retrieval import retrieval_recall

        final.update(retrieval_recall(trainer.model, heldout, trainer.device))
    if labels is not None:
        final.update(_labeled(trainer, labels))
    return reportable(final, trainer.model.embedding_dim)
