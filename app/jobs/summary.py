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
    "knn_top1": "Labeled items only: top-1 accuracy of a k-nearest-neighbour classifier on the embeddings "
    "(80/20 split); compare with knn_top1_random_init, the same architecture untrained.",
    "linear_probe": "Labeled items only: accuracy of a logistic regression on the frozen embeddings; compare with "
    "linear_probe_random_init.",
    "warning": "Present when the label-free metrics show a collapsing representation, in plain words.",
}


def _over_random(report: dict[str, Any], key: str, label: str) -> str | None:
    if key not in report:
        return None
    text = f"{label} {report[key]:.2f}"
    baseline = report.get(f"{key}_random_init")
    if baseline is not None:
        points = round(100 * (report[key] - baseline), 1)
        # "-2.8 points over" reads as a gain at a glance, so a loss says so in words; abs() keeps -0.0 from
        # printing as "+-0.0"
        side = f"+{abs(points):.1f} points over" if points >= 0 else f"{-points:.1f} points below"
        text += f": {side} the random-init encoder"
    return text


def _rankme(report: dict[str, Any]) -> str | None:
    if "rankme" not in report:
        return None
    dim = report.get("embedding_dim")
    return f"RankMe {report['rankme']:.0f}" + (f" of {int(dim)}" if dim else "")


def _retrieval(report: dict[str, Any]) -> str | None:
    recall = report.get("image_to_text_recall@1")
    return None if recall is None else f"image->text recall@1 {recall:.2f}"


PARTS: tuple[Callable[[dict[str, Any]], str | None], ...] = (
    lambda report: _over_random(report, "knn_top1", "kNN"),
    lambda report: _over_random(report, "linear_probe", "linear probe"),
    _retrieval,
    _rankme,
    lambda report: report.get("warning"),
)


def quality_summary(report: dict[str, Any]) -> str | None:
    """E.g. "kNN 0.91: +4.2 points over the random-init encoder; RankMe 84 of 128"; None for an empty report."""
    parts = [part for build in PARTS if (part := build(report))]
    return "; ".join(parts) or None


def metrics_description() -> str:
    return "Latest values (the final report once succeeded). " + " ".join(
        f"{name}: {meaning}" for name, meaning in METRIC_MEANINGS.items()
    )
