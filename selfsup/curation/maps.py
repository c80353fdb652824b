"""2-D maps of a vector set for a dashboard scatter plot: t-SNE for small sets, UMAP for large ones.

t-SNE (van der Maaten & Hinton, 2008) keeps local neighbourhoods best but grows slow past a few thousand
items; UMAP (McInnes et al., 2018) keeps them nearly as well and scales to hundreds of thousands. Vectors are
first projected to at most PCA_DIMS dimensions (fitted on a sample, applied in blocks), as both papers
advise: it removes noise and bounds the float32 copy the layouts need.
"""

from collections.abc import Callable

import numpy as np
from sklearn.decomposition import PCA

MAX_MAP_ITEMS = 200_000  # a map of more points is unreadable, and UMAP's memory grows with it
TSNE_UP_TO = 5_000  # "auto" uses t-SNE up to this many items, UMAP above
PCA_DIMS = 50
PCA_SAMPLE = 10_000  # rows the projection is fitted on
ROW_CHUNK = 65_536

Layout = Callable[[np.ndarray, int], np.ndarray]  # (N, d) float32, seed -> (N, 2)


def _tsne(points: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(points) - 1) / 3)  # t-SNE requires perplexity < N
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def _umap(points: np.ndarray, seed: int) -> np.ndarray:
    import umap  # imported here: numba compiles on first import (tens of seconds)

    # One thread: a seeded UMAP is only reproducible single-threaded (umap would force it and warn).
    reducer = umap.UMAP(
        n_components=2, n_neighbors=min(15, len(points) - 1), metric="cosine", random_state=seed, n_jobs=1
    )
    return np.asarray(reducer.fit_transform(points))


LAYOUTS: dict[str, Layout] = {"tsne": _tsne, "umap": _umap}


def _projected(vectors: np.ndarray, seed: int) -> np.ndarray:
    """(N, min(D, PCA_DIMS)) float32: the PCA projection, fitted on a seeded sample and applied in blocks."""
    if vectors.shape[1] <= PCA_DIMS:
        return np.asarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(vectors.shape[0], size=min(PCA_SAMPLE, vectors.shape[0]), replace=False))
    dims = min(PCA_DIMS, len(sample))
    pca = PCA(dims, random_state=seed).fit(np.asarray(vectors[sample], dtype=np.float32))
    blocks = [
        pca.transform(np.asarray(vectors[s : s + ROW_CHUNK], np.float32)) for s in range(0, len(vectors), ROW_CHUNK)
    ]
    return np.concatenate(blocks).astype(np.float32)


def _scaled(layout: np.ndarray) -> np.ndarray:
    """Centred and scaled into [-1, 1] by the larger half-range, so the map keeps its aspect ratio."""
    low, high = layout.min(axis=0), layout.max(axis=0)
    half_range = float((high - low).max()) / 2
    return ((layout - (low + high) / 2) / (half_range or 1.0)).astype(np.float32)


def layout_2d(vectors: np.ndarray, *, seed: int = 0, method: str = "auto") -> tuple[np.ndarray, str]:
    """(N, D) unit vectors -> ((N, 2) float32 in [-1, 1], the method used: "tsne" or "umap")."""
    count = vectors.shape[0] if vectors.ndim == 2 else 0
    if vectors.ndim != 2 or not 1 <= count <= MAX_MAP_ITEMS:
        raise ValueError(f"a map takes (N, D) vectors with 1 <= N <= {MAX_MAP_ITEMS}, got shape {vectors.shape}")
    if method == "auto":
        method = "tsne" if count <= TSNE_UP_TO else "umap"
    if method not in LAYOUTS:
        raise ValueError(f"unknown map method {method!r}: expected 'auto' or one of {sorted(LAYOUTS)}")
    if count < 4:  # too few points for either to fit a neighbourhood: spread them on a line
        return _scaled(np.stack([np.arange(count), np.zeros(count)], axis=1).astype(np.float32)), method
    return _scaled(LAYOUTS[method](_projected(vectors, seed), seed)), method
