"""Data quality from a neighbour graph: exact and near duplicates, outliers, labels their neighbours dispute."""

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from selfsup.curation.neighbors import NeighborGraph

VOTE_CHUNK = 65_536  # items per block of the (items, classes) vote table


def _ordered_groups(group_of: np.ndarray) -> list[list[int]]:
    """Items sharing a group id, groups of >= 2, largest first then by first member; members ascending."""
    order = np.argsort(group_of, kind="stable")  # stable: members stay ascending within a group
    _, starts, counts = np.unique(group_of[order], return_index=True, return_counts=True)
    groups = [order[s : s + c].tolist() for s, c in zip(starts, counts, strict=True) if c >= 2]
    return sorted(groups, key=lambda group: (-len(group), group[0]))


def exact_duplicate_groups(hashes: np.ndarray) -> list[list[int]]:
    """Groups of items with equal content hash (any (N,) array of hashes: strings, bytes or integers)."""
    _, group_of = np.unique(np.asarray(hashes), return_inverse=True)
    return _ordered_groups(group_of.reshape(-1))


def near_duplicate_groups(graph: NeighborGraph, *, threshold: float) -> list[list[int]]:
    """Connected components over the graph's edges with cosine similarity >= ``threshold``."""
    count = graph.indices.shape[0]
    rows, cols = np.nonzero(graph.scores >= threshold)
    edges = coo_matrix((np.ones(len(rows), np.int8), (rows, graph.indices[rows, cols])), shape=(count, count))
    _, component_of = connected_components(edges, directed=False)
    return _ordered_groups(component_of)


def knn_density(graph: NeighborGraph) -> np.ndarray:
    """(N,) float32 mean similarity of each item to its neighbours: low in sparse regions."""
    return graph.scores.mean(axis=1, dtype=np.float32)


def outliers(graph: NeighborGraph, *, count: int) -> list[tuple[int, float]]:
    """The ``count`` items of lowest kNN density, as (index, density), lowest first."""
    density = knn_density(graph)
    lowest = np.argsort(density, kind="stable")[: max(count, 0)]
    return [(int(i), float(density[i])) for i in lowest]


@dataclass
class Disagreement:
    index: int  # the labeled item
    label: int  # its label
    suggested: int  # the class its labeled neighbours vote for
    agreement: float  # the share of the neighbours' similarity weight behind ``suggested``


def label_disagreements(graph: NeighborGraph, labels: np.ndarray, *, min_agreement: float = 0.6) -> list[Disagreement]:
    """Labeled items whose labeled neighbours vote, weighted by similarity, for another class.

    labels: (N,) int, -1 = unlabeled. A vote weighs the neighbour's similarity clipped at 0 (an anti-similar
    neighbour says nothing). Sorted by agreement, highest first.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (graph.indices.shape[0],):
        raise ValueError(f"labels must be ({graph.indices.shape[0]},), got {labels.shape}")
    num_classes = int(labels.max()) + 1 if labels.size else 0
    if num_classes == 0:  # nothing labeled: nothing to dispute
        return []
    found: list[Disagreement] = []
    for start in range(0, len(labels), VOTE_CHUNK):
        found += _block_disagreements(graph, labels, start, num_classes, min_agreement)
    return sorted(found, key=lambda d: (-d.agreement, d.index))


def _block_disagreements(
    graph: NeighborGraph, labels: np.ndarray, start: int, num_classes: int, min_agreement: float
) -> list[Disagreement]:
    rows = np.arange(start, min(start + VOTE_CHUNK, len(labels)))
    rows = rows[labels[rows] >= 0]
    neighbour_labels = labels[graph.indices[rows]]  # (r, k)
    weights = np.where(neighbour_labels >= 0, np.clip(graph.scores[rows], 0, None), 0)
    votes = np.zeros((len(rows), num_classes), np.float64)
    np.add.at(
        votes, (np.repeat(np.arange(len(rows)), weights.shape[1]), neighbour_labels.clip(0).ravel()), weights.ravel()
    )
    total = votes.sum(axis=1)
    suggested = votes.argmax(axis=1)
    share = np.divide(votes[np.arange(len(rows)), suggested], total, out=np.zeros(len(rows)), where=total > 0)
    hit = (suggested != labels[rows]) & (share >= min_agreement)
    return [
        Disagreement(index=int(i), label=int(labels[i]), suggested=int(s), agreement=float(a))
        for i, s, a in zip(rows[hit], suggested[hit], share[hit], strict=True)
    ]
