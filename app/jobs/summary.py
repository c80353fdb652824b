"""What a job's final report means, in words: one line next to the raw numbers, and one explanation per metric
(shown in the API schema and the README's table) so nobody has to look up what RankMe is."""

from collections.abc import Callable
from typing import Any

METRIC_MEANINGS = {
    "loss": "The method's training objective on the last steps; lower is better, comparable only within a method.",
    "rankme": "Effective number of directions the embeddings use (RankMe, from the singular values), 1 to the "
    "embedding size; higher means a richer representation, under 2 means collapse.",
    "alignment": "Mean squared distance between the embeddings of two augmented views of one item (unit "
    "sphere); lower means more invariant to the augmentations. 0 with a collapse too, so read it with uniformity.",
    "uniformity": "log of the mean Gaussian potential between embeddings (unit sphere); more negative means more "
    "evenly spread. Near 0 means everything maps to one point.",
    "embedding_std": "Per-dimension standard deviation of the L2-normalized embeddings; evenly spread embeddings "
    "score about 1/sqrt(D), near 0 means collapse.",
    "mean_cosine": "Mean cosine similarity between the L2-normalized embeddings of two different items "
    "(anisotropy); about 0 when spread evenly, over 0.99 means every embedding points the same way. Pooled ReLU "
    "image encoders sit at 0.93-0.99 by construction.",
    "participation_ratio": "Effective number of directions the embeddings vary along about their mean "
    "((sum of covariance eigenvalues)^2 / sum of their squares), 1 to the embedding size, bounded by what the data "
    "holds (a 13-column table: 13 at most); under 1.5 means collapse.",
    "knn_top1": "Labeled items only: top-1 accuracy of a k-nearest-neighbour classifier on the embeddings "
    "(80/20 split, at most 10,000 items); compare with knn_top1_random_init, the same architecture untrained, and "
    "knn_top1_baseline.",
    "linear_probe": "Labeled items only: accuracy of a logistic regression on the frozen embeddings; compare with "
    "linear_probe_random_init and linear_probe_baseline.",
    "baseline": "Labeled items only: the classical features scored beside the encoder with the same probes and "
    "split: 'raw pixels' (images, standardized, pooled to at most 32 x 32), 'TF-IDF' (text, the dataset's tokens, "
    "sublinear tf) or 'standardized columns' (tables: numerics and one-hot categoricals); absent for image-text.",
    "knn_top1_baseline": "knn_top1 of the baseline's features: what the encoder must beat for pretraining to "
    "have been worth it.",
    "linear_probe_baseline": "linear_probe of the baseline's features.",
    "warning": "Present when the label-free metrics show a collapsing representation, in plain words.",
}


def _gap(value: float, reference: float, name: str, *, below_suffix: str = "") -> str:
    # Rounded first, so that a gap under 0.05 points reads "+0.0 points over", never "0.0 points below" or "+-0.0".
    points = round(100 * (value - reference), 1)
    if points < 0:
        return f"{-points:.1f} points below {name}{below_suffix}"
    return f"+{abs(points):.1f} points over {name}"


def _probe(report: dict[str, Any], key: str, label: str) -> str | None:
    """E.g. "kNN 0.39: +2.0 points over the random-init encoder, 23.0 points below TF-IDF on these labels"."""
    if key not in report:
        return None
    comparisons = []
    if (floor := report.get(f"{key}_random_init")) is not None:
        comparisons.append(_gap(report[key], floor, "the random-init encoder"))
    if (reference := report.get(f"{key}_baseline")) is not None and (name := report.get("baseline")):
        comparisons.append(_gap(report[key], reference, name, below_suffix=" on these labels"))
    return f"{label} {report[key]:.2f}" + (": " + ", ".join(comparisons) if comparisons else "")


def _rankme(report: dict[str, Any]) -> str | None:
    if "rankme" not in report:
        return None
    dim = report.get("embedding_dim")
    return f"RankMe {report['rankme']:.0f}" + (f" of {int(dim)}" if dim else "")


def _retrieval(report: dict[str, Any]) -> str | None:
    recall = report.get("image_to_text_recall@1")
    return None if recall is None else f"image->text recall@1 {recall:.2f}"


PARTS: tuple[Callable[[dict[str, Any]], str | None], ...] = (
    lambda report: _probe(report, "knn_top1", "kNN"),
    lambda report: _probe(report, "linear_probe", "linear probe"),
    _retrieval,
    _rankme,
    lambda report: report.get("warning"),
)


def quality_summary(report: dict[str, Any]) -> str | None:
    """E.g. "kNN 0.91: +4.2 points over the random-init encoder, +1.3 points over raw pixels; RankMe 84 of 128";
    None for an empty report."""
    parts = [part for build in PARTS if (part := build(report))]
    return "; ".join(parts) or None


def metrics_description() -> str:
    return "Latest values (the final report once succeeded). " + " ".join(
        f"{name}: {meaning}" for name, meaning in METRIC_MEANINGS.items()
    )
