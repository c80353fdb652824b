"""Synthetic clustered unit vectors: tight clusters around random centres, the shape real embeddings take."""

import numpy as np


def clustered(
    num_clusters: int, per_cluster: int, dim: int = 32, *, spread: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(num_clusters * per_cluster, dim) float32 L2-normalized rows and their (N,) int64 cluster ids."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    ids = np.repeat(np.arange(num_clusters), per_cluster)
    points = centres[ids] + spread * rng.standard_normal((len(ids), dim)) / np.sqrt(dim)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), ids.astype(np.int64)
