"""What to label next: pick ``budget`` items of an (N, D) unit-vector set to send to a labeler.

``random`` is the baseline every active-learning paper reports against. ``diversity`` is greedy k-center
(Sener & Savarese, 2018): each pick is the item farthest (cosine distance) from every centre so far, so the
labels spread over the whole space. ``typicality`` is TypiClust (Hacohen, Dekel & Weinshall, "Active Learning
on a Budget", ICML 2022): cluster into as many groups as there will be labels, and label the most typical item
(the densest point) of each uncovered cluster; at very small budgets it beats both.
"""

from collections.abc import Callable

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

ROW_CHUNK = 65_536  # rows per distance block: bounds the float32 copy of a float16 or memory-mapped set
FULL_KMEANS_UP_TO = 20_000  # above this, k-means runs on mini-batches streamed from the (memory-mapped) set
TYPICALITY_NEIGHBOURS = 20  # TypiClust's k for the density
TYPICALITY_SAMPLE = 2_000  # per cluster, the density is measured on at most this many seeded members

Strategy = Callable[[np.ndarray, int, np.random.Generator, np.ndarray], np.ndarray]


def _rows(vectors: np.ndarray, start: int) -> np.ndarray:
    return np.asarray(vectors[start : start + ROW_CHUNK], dtype=np.float32)


def select_random(vectors: np.ndarray, budget: int, rng: np.random.Generator, excluded: np.ndarray) -> np.ndarray:
    """``budget`` items drawn uniformly from those not excluded."""
    return rng.choice(np.flatnonzero(~excluded), size=budget, replace=False)


def select_diversity(vectors: np.ndarray, budget: int, rng: np.random.Generator, excluded: np.ndarray) -> np.ndarray:
    """Greedy k-center on cosine distance; excluded (already labeled) items are centres from the start."""
    nearest = np.full(vectors.shape[0], np.inf, dtype=np.float32)  # each item's distance to its nearest centre
    centres = np.flatnonzero(excluded)
    for start in range(0, len(centres), 256):
        _update_nearest(vectors, nearest, np.asarray(vectors[centres[start : start + 256]], dtype=np.float32))
    taken = excluded.copy()
    picks = np.empty(budget, dtype=np.int64)
    for i in range(budget):
        candidates = np.where(taken, -np.inf, nearest)
        # The first pick with no centre yet: every distance is infinite, so draw it (seeded) instead.
        picks[i] = rng.choice(np.flatnonzero(~taken)) if np.isinf(candidates.max()) else candidates.argmax()
        taken[picks[i]] = True
        _update_nearest(vectors, nearest, np.asarray(vectors[picks[i] : picks[i] + 1], dtype=np.float32))
    return picks


def _update_nearest(vectors: np.ndarray, nearest: np.ndarray, centres: np.ndarray) -> None:
    """Lower ``nearest`` (N,) in place to each item's cosine distance to the closest of (C, D) ``centres``."""
    for start in range(0, vectors.shape[0], ROW_CHUNK):
        distance = 1.0 - (_rows(vectors, start) @ centres.T).max(axis=1)  # (rows,)
        block = nearest[start : start + len(distance)]
        np.minimum(block, distance, out=block)


def select_typicality(vectors: np.ndarray, budget: int, rng: np.random.Generator, excluded: np.ndarray) -> np.ndarray:
    """TypiClust: the densest item of each of the ``budget`` largest clusters holding no labeled item yet."""
    num_clusters = min(budget + int(excluded.sum()), vectors.shape[0])
    cluster_of = _kmeans(vectors, num_clusters, rng)
    sizes = np.bincount(cluster_of, minlength=num_clusters)
    covered = np.bincount(cluster_of[excluded], minlength=num_clusters) > 0
    picks: list[int] = []
    for cluster in np.lexsort((-sizes, covered)):  # uncovered first, then largest first
        members = np.flatnonzero((cluster_of == cluster) & ~excluded)
        if len(members):
            picks.append(_most_typical(vectors, members, rng))
        if len(picks) == budget:
            return np.array(picks, dtype=np.int64)
    rest = np.setdiff1d(np.flatnonzero(~excluded), picks)  # clusters of labeled items only: fill at random
    return np.concatenate([picks, rng.choice(rest, size=budget - len(picks), replace=False)]).astype(np.int64)


def _kmeans(vectors: np.ndarray, num_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) cluster ids; mini-batches streamed in blocks above FULL_KMEANS_UP_TO items."""
    seed = int(rng.integers(2**31))
    if vectors.shape[0] <= FULL_KMEANS_UP_TO:
        return KMeans(num_clusters, n_init=1, random_state=seed).fit_predict(np.asarray(vectors, np.float32))
    model = MiniBatchKMeans(num_clusters, random_state=seed, batch_size=max(4096, 3 * num_clusters))
    for start in range(0, vectors.shape[0], ROW_CHUNK):
        model.partial_fit(_rows(vectors, start))
    return np.concatenate([model.predict(_rows(vectors, s)) for s in range(0, vectors.shape[0], ROW_CHUNK)])


def _most_typical(vectors: np.ndarray, members: np.ndarray, rng: np.random.Generator) -> int:
    """The member with the highest typicality: 1 / mean cosine distance to its nearest members."""
    if len(members) > TYPICALITY_SAMPLE:
        members = np.sort(rng.choice(members, size=TYPICALITY_SAMPLE, replace=False))
    if len(members) <= 2:
        return int(members[0])
    points = np.asarray(vectors[members], dtype=np.float32)  # (m, D)
    distance = 1.0 - points @ points.T  # (m, m)
    np.fill_diagonal(distance, np.inf)
    k = min(TYPICALITY_NEIGHBOURS, len(members) - 1)
    nearest = np.partition(distance, k - 1, axis=1)[:, :k]
    typicality = 1.0 / (nearest.mean(axis=1) + 1e-6)
    return int(members[typicality.argmax()])


STRATEGIES: dict[str, Strategy] = {
    "random": select_random,
    "diversity": select_diversity,
    "typicality": select_typicality,
}


def select_items(
    vectors: np.ndarray, *, budget: int, strategy: str, seed: int = 0, exclude: np.ndarray | None = None
) -> np.ndarray:
    """``budget`` distinct (budget,) int64 indices into (N, D) unit ``vectors``, none in ``exclude``.

    exclude: indices already labeled (or otherwise off limits); the same seed gives the same picks.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown selection strategy {strategy!r}: expected one of {sorted(STRATEGIES)}")
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be (N, D), got shape {vectors.shape}")
    excluded = np.zeros(vectors.shape[0], dtype=bool)
    if exclude is not None and len(exclude):
        excluded[np.asarray(exclude, dtype=np.int64)] = True
    available = int((~excluded).sum())
    if not 0 <= budget <= available:
        raise ValueError(f"budget must be between 0 and the {available} items available, got {budget}")
    if budget == 0:
        return np.empty(0, dtype=np.int64)
    picks = STRATEGIES[strategy](vectors, budget, np.random.default_rng(seed), excluded)
    return np.asarray(picks, dtype=np.int64)
