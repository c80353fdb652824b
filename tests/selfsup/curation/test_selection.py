import numpy as np
import pytest

from selfsup.curation import selection
from selfsup.curation.selection import STRATEGIES, select_items
from tests.selfsup.curation.synthetic import clustered


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_picks_are_distinct_never_excluded_and_seeded(strategy: str) -> None:
    vectors, _ = clustered(6, 30, spread=0.5)
    exclude = np.arange(0, 180, 7)
    picks = select_items(vectors, budget=12, strategy=strategy, seed=4, exclude=exclude)
    assert picks.dtype == np.int64 and len(picks) == 12 == len(set(picks.tolist()))
    assert not set(picks.tolist()) & set(exclude.tolist())
    again = select_items(vectors, budget=12, strategy=strategy, seed=4, exclude=exclude)
    np.testing.assert_array_equal(picks, again)


def test_k_center_covers_every_cluster_before_repeating_one() -> None:
    vectors, ids = clustered(8, 25, spread=0.2)
    picks = select_items(vectors, budget=8, strategy="diversity", seed=1)
    assert sorted(ids[picks].tolist()) == list(range(8))


def test_k_center_treats_labeled_items_as_centres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "ROW_CHUNK", 17)  # blocked distance updates
    vectors, ids = clustered(5, 20, spread=0.2)
    labeled = np.flatnonzero(ids < 3)[::10]  # two labeled items in each of clusters 0, 1 and 2
    picks = select_items(vectors, budget=2, strategy="diversity", exclude=labeled)
    assert sorted(ids[picks].tolist()) == [3, 4]


def test_typicality_picks_one_central_item_per_cluster() -> None:
    vectors, ids = clustered(6, 40, spread=0.3)
    picks = select_items(vectors, budget=6, strategy="typicality", seed=2)
    assert sorted(ids[picks].tolist()) == list(range(6))
    centres = np.stack([vectors[ids == c].mean(axis=0) for c in range(6)])
    for pick in picks:  # the densest member sits near its cluster's centre
        similarity = vectors[ids == ids[pick]] @ centres[ids[pick]]
        assert vectors[pick] @ centres[ids[pick]] >= np.quantile(similarity, 0.5)


def test_typicality_streams_k_means_on_large_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "FULL_KMEANS_UP_TO", 50)
    monkeypatch.setattr(selection, "ROW_CHUNK", 64)
    vectors, ids = clustered(4, 60, spread=0.2)
    picks = select_items(vectors, budget=4, strategy="typicality", seed=0, exclude=np.array([0]))
    assert len(set(ids[picks].tolist())) >= 3


def test_bad_budget_or_strategy_is_refused() -> None:
    vectors, _ = clustered(2, 5)
    with pytest.raises(ValueError, match="the 8 items available"):
        select_items(vectors, budget=9, strategy="random", exclude=np.array([1, 2]))
    with pytest.raises(ValueError, match="unknown selection strategy 'entropy'"):
        select_items(vectors, budget=1, strategy="entropy")
