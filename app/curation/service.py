"""A run's data-quality report, its 2-D map and selections of what to label next, from its stored files."""

import numpy as np

from app.core.errors import FieldErrors, Unprocessable
from app.curation.open_runs import OpenRun
from app.curation.schemas import (
    MAX_SHOWN,
    DuplicateGroups,
    EmbeddingMap,
    LabelDisagreement,
    MapPoint,
    NearDuplicateGroups,
    Outlier,
    QualityReport,
    SelectionIn,
    SelectionOut,
)
from selfsup.curation.quality import exact_duplicate_groups, label_disagreements, near_duplicate_groups, outliers
from selfsup.curation.selection import select_items


def quality_report(opened: OpenRun, *, run_id: str, threshold: float, max_outliers: int) -> QualityReport:
    graph = opened.neighbors()
    arrays = opened.arrays
    near = _groups(near_duplicate_groups(graph, threshold=threshold))
    return QualityReport(
        embedding_run_id=run_id,
        num_items=len(arrays.vectors),
        exact_duplicates=_groups(exact_duplicate_groups(arrays.hashes)),
        near_duplicates=NearDuplicateGroups(**near.model_dump(), threshold=threshold),
        outliers=[Outlier(index=i, density=round(d, 6)) for i, d in outliers(graph, count=max_outliers)],
        label_disagreements=_disagreements(opened) if arrays.labels is not None else None,
    )


def _groups(groups: list[list[int]]) -> DuplicateGroups:
    return DuplicateGroups(
        num_groups=len(groups), num_items=sum(len(group) for group in groups), groups=groups[:MAX_SHOWN]
    )


def _disagreements(opened: OpenRun) -> list[LabelDisagreement]:
    assert opened.arrays.labels is not None
    classes = opened.arrays.classes
    found = label_disagreements(opened.neighbors(), opened.arrays.labels)
    return [
        LabelDisagreement(
            index=d.index, label=classes[d.label], suggested=classes[d.suggested], agreement=round(d.agreement, 4)
        )
        for d in found[:MAX_SHOWN]
    ]


def select(opened: OpenRun, body: SelectionIn, *, max_work: int) -> SelectionOut:
    """Choose ``body.budget`` items by ``body.strategy``; the work (items x budget distance updates) is bounded."""
    count = len(opened.arrays.vectors)
    excluded = _excluded(opened, body)
    available = count - len(excluded)
    if body.budget > available:
        message = f"the run has {available} items that may be chosen, fewer than the budget of {body.budget}"
        raise FieldErrors([(("body", "budget"), message)])
    if body.strategy != "random" and count * body.budget > max_work:
        most = max(1, max_work // count)
        raise FieldErrors(
            [(("body", "budget"), f"{body.strategy} selection over {count} items takes a budget of at most {most}")]
        )
    chosen = select_items(
        opened.arrays.vectors, budget=body.budget, strategy=body.strategy, seed=body.seed, exclude=excluded
    )
    return SelectionOut(
        embedding_run_id=body.embedding_run_id,
        strategy=body.strategy,
        budget=body.budget,
        seed=body.seed,
        indices=[int(i) for i in chosen],
    )


def _excluded(opened: OpenRun, body: SelectionIn) -> np.ndarray:
    count = len(opened.arrays.vectors)
    given = np.asarray(body.exclude, dtype=np.int64)
    if len(given) and int(given.max()) >= count:
        position = int(np.argmax(given >= count))
        raise FieldErrors(
            [(("body", "exclude", position), f"the run has items 0 to {count - 1}, not {given[position]}")]
        )
    labels = opened.arrays.labels
    if body.exclude_labeled and labels is not None:
        given = np.concatenate([given, np.flatnonzero(labels >= 0)])
    return np.unique(given)


def embedding_map(opened: OpenRun, *, run_id: str) -> EmbeddingMap:
    stored = opened.map()
    if stored is None:
        raise Unprocessable(f"embedding run {run_id!r} has too many items for a map")
    coords, method = stored
    points = [
        MapPoint(index=i, x=round(float(x), 5), y=round(float(y), 5), label=opened.label_of(i))
        for i, (x, y) in enumerate(np.asarray(coords))
    ]
    return EmbeddingMap(embedding_run_id=run_id, method=method, points=points)
