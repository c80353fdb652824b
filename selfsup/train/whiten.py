"""Fitting the whitening a method serves with (see :mod:`selfsup.whitening`) on its training set, at export."""

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.eval.representation import embed_items, evaluating
from selfsup.methods.base import SSLMethod
from selfsup.whitening import Whitening, WhiteningFit

MAX_FIT_ITEMS = 10_000  # a seeded draw beyond it: the covariance of D <= 2048 dims is settled well before
FIT_CHUNK = 1024  # items embedded at a time: memory stays O(chunk * D + D^2)


def fit_whitening(
    model: SSLMethod, data: TrainingData, device: torch.device, *, max_items: int = MAX_FIT_ITEMS, seed: int = 0
) -> Whitening | None:
    """The whitening of ``model.embed`` over at most ``max_items`` items of ``data`` (all of them if fewer), in
    eval mode on a forked RNG; None when those items are no more than the embedding's dimensions, which leaves
    directions the covariance cannot see and whitening would amplify as noise."""
    count = min(max_items, len(data))
    if count <= model.embedding_dim:
        return None
    indices = np.sort(np.random.default_rng(seed).choice(len(data), count, replace=False))
    fit = WhiteningFit(model.embedding_dim)
    with evaluating(model):
        for start in range(0, count, FIT_CHUNK):
            fit.add(embed_items(model, data, indices[start : start + FIT_CHUNK], device=device))  # (n, D)
    try:
        return fit.finish(model.whitening_ridge)
    except ValueError:  # a collapsed encoder: nothing to whiten, serve it as it is
        return None


def fit_served_whitening(model: SSLMethod, data: TrainingData, device: torch.device) -> Whitening | None:
    """What ``model`` serves its embeddings with, fitted on ``data``: its own whitening if its method
    ``serve_whitened``, else None. Scoring a model as served (its initial weights too) goes through here."""
    return fit_whitening(model, data, device) if model.serve_whitened else None
