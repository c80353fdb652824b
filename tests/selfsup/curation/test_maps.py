import numpy as np
import pytest

from selfsup.curation import maps
from selfsup.curation.maps import layout_2d
from tests.selfsup.curation.synthetic import clustered


def _separation(layout: np.ndarray, ids: np.ndarray) -> float:
    """Mean distance between cluster centres over the mean spread within a cluster."""
    centres = np.stack([layout[ids == c].mean(axis=0) for c in np.unique(ids)])
    spread = np.mean([np.linalg.norm(layout[ids == c] - centres[c], axis=1).mean() for c in np.unique(ids)])
    between = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    return float(between[np.triu_indices(len(centres), 1)].mean() / spread)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_clusters_stay_apart_on_the_map(method: str) -> None:
    vectors, ids = clustered(4, 30, dim=64, spread=0.3)  # 64 > PCA_DIMS: projected first
    layout, used = layout_2d(vectors.astype(np.float16), method=method)
    assert used == method and layout.shape == (120, 2) and layout.dtype == np.float32
    assert layout.min() >= -1.0 - 1e-6 and layout.max() <= 1.0 + 1e-6 and np.abs(layout).max() > 0.99
    assert _separation(layout, ids) > 3


def test_auto_picks_by_size_and_a_seed_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, _ = clustered(2, 20)
    first, used = layout_2d(vectors, seed=1)
    assert used == "tsne"
    np.testing.assert_array_equal(first, layout_2d(vectors, seed=1)[0])
    monkeypatch.setattr(maps, "TSNE_UP_TO", 10)
    assert layout_2d(vectors)[1] == "umap"


def test_tiny_and_oversized_inputs() -> None:
    layout, _ = layout_2d(np.eye(2, dtype=np.float32))
    assert layout.tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    with pytest.raises(ValueError, match="unknown map method 'pca'"):
        layout_2d(np.eye(5, dtype=np.float32), method="pca")
    with pytest.raises(ValueError, match="1 <= N <= 200000"):
        layout_2d(np.empty((0, 3), np.float32))
