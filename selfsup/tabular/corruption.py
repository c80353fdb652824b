"""Feature corruption for tables: which features to corrupt, and what to put there.

Corrupted values are draws from each feature's empirical marginal, as in SCARF (Bahri et al., 2022) and VIME
(Yoon et al., 2020): the value the same feature takes in another row. Methods only see a batch, so they draw
from the batch (:func:`batch_donors`); the batch is a uniform sample of the dataset, so a random row of it
holds a draw from the feature's marginal over the whole dataset. ``TableData.probe_view`` draws from the whole
dataset directly.
"""

import torch

from selfsup.tabular.batch import TableBatch


def exact_fraction_mask(rows: int, features: int, rate: float, *, device: torch.device) -> torch.Tensor:
    """(rows, features) bool with exactly ``round(rate * features)`` True per row, chosen uniformly (SCARF)."""
    count = round(rate * features)
    ranks = torch.rand(rows, features, device=device).argsort(dim=1).argsort(dim=1)  # a random permutation
    return ranks < count


def bernoulli_mask(rows: int, features: int, rate: float, *, device: torch.device) -> torch.Tensor:
    """(rows, features) bool, each entry True with probability ``rate`` independently (VIME's m ~ Bernoulli(p))."""
    return torch.rand(rows, features, device=device) < rate


def batch_donors(batch: TableBatch) -> TableBatch:
    """Each column of ``batch`` shuffled on its own: row i of feature j comes from a random row of the batch.

    A per-column permutation (sampling without replacement) keeps every column's multiset of values, so the
    replacement values follow the batch's marginal exactly.
    """
    rows = batch.num_rows
    numeric_order = torch.rand(rows, batch.num_numeric, device=batch.device).argsort(dim=0)  # (B, Fn)
    categorical_order = torch.rand(rows, batch.categorical.shape[1], device=batch.device).argsort(dim=0)  # (B, Fc)
    return TableBatch(batch.numeric.gather(0, numeric_order), batch.categorical.gather(0, categorical_order))


def replace_features(batch: TableBatch, mask: torch.Tensor, donors: TableBatch) -> TableBatch:
    """``batch`` with the features where ``mask`` (B, F) is True taken from ``donors`` (same shapes)."""
    numeric_mask, categorical_mask = batch.split(mask)
    return TableBatch(
        torch.where(numeric_mask, donors.numeric, batch.numeric),
        torch.where(categorical_mask, donors.categorical, batch.categorical),
    )


def changed_features(batch: TableBatch, corrupted: TableBatch) -> torch.Tensor:
    """(B, F) float, 1 where ``corrupted`` differs from ``batch``: a drawn value can equal the original, and
    then no estimator could tell it was replaced."""
    numeric = corrupted.numeric != batch.numeric  # (B, Fn)
    categorical = corrupted.categorical != batch.categorical  # (B, Fc)
    return torch.cat([numeric, categorical], dim=1).float()
