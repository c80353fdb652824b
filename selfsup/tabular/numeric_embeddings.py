"""Feature-wise embeddings of numeric columns ahead of the MLP (Gorishniy et al., 2022, "On Embeddings for Numerical
Features in Tabular Deep Learning").

An MLP that reads a standardized value as one input can only bend it through its first layer's ReLUs, shared
by every feature; giving each feature its own small vector lets the network learn a feature's shape (thresholds,
periodicity) before mixing features. Each embedding maps (B, Fn) -> (B, Fn, D).
"""

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

MIN_BIN_WIDTH = 1e-3  # in standard deviations: the width a tied quantile's bin gets
MAX_FIT_ROWS = 20_000  # rows the quantile bins are placed on: their quantiles settle well within that many
NumericEmbeddingName = Literal["none", "linear", "periodic", "piecewise_linear"]


class NumericTokens(nn.Module):
    """FT-Transformer's feature tokenizer for numerics: token_j = x_j * W_j + b_j. (B, Fn) -> (B, Fn, D)."""

    def __init__(self, num_numeric: int, dim: int) -> None:
        super().__init__()
        bound = dim**-0.5
        self.weight = nn.Parameter(torch.empty(num_numeric, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_numeric, dim).uniform_(-bound, bound))

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        return numeric.unsqueeze(-1) * self.weight + self.bias  # (B, Fn, D)


class LinearReLUEmbeddings(NumericTokens):
    """The paper's "LR": e_j = ReLU(x_j * w_j + b_j), the ReLU of FT-Transformer's numeric tokens (same
    parameters, same names in a state dict). (B, Fn) -> (B, Fn, D)."""

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        return torch.relu(super().forward(numeric))  # (B, Fn, D)


class PeriodicEmbeddings(nn.Module):
    """The paper's "PLR": v_j = [cos(2 pi c_j x_j), sin(2 pi c_j x_j)] with K trainable frequencies c_j ~ N(0,
    sigma^2) per feature, then a per-feature linear map to D and a ReLU. (B, Fn) -> (B, Fn, D).

    ``sigma`` sets how wiggly the initial functions of x are (on standardized x); the paper found it the one
    hyperparameter that matters and tunes it in [0.01, 100].
    """

    def __init__(self, num_numeric: int, dim: int, *, frequencies: int = 16, sigma: float = 1.0) -> None:
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(num_numeric, frequencies) * sigma)  # (Fn, K)
        bound = (2 * frequencies) ** -0.5
        self.weight = nn.Parameter(torch.empty(num_numeric, 2 * frequencies, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_numeric, dim).uniform_(-bound, bound))

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * numeric.unsqueeze(-1) * self.frequencies  # (B, Fn, K)
        features = torch.cat([angles.cos(), angles.sin()], dim=-1)  # (B, Fn, 2K)
        return torch.relu(torch.einsum("bfk,fkd->bfd", features, self.weight) + self.bias)  # (B, Fn, D)


class PiecewiseLinearEncoding(nn.Module):
    """The paper's "PLE" with quantile bins: feature j's range is cut at its empirical quantiles b_0 < ... < b_T,
    and component t of x_j is how far x_j has filled bin t, clamp((x_j - b_{t-1}) / (b_t - b_{t-1}), 0, 1): a
    thermometer code that stays linear inside each bin. (B, Fn) -> (B, Fn, T). No trainable parameters; the edges
    are a buffer saved with the weights. Unlike the paper's open first and last bins, every bin is clamped, so a
    served value far outside the training range cannot blow the encoding up.
    """

    def __init__(self, num_numeric: int, bins: int) -> None:
        super().__init__()
        self.edges: torch.Tensor  # (Fn, T + 1), increasing along T; placeholders until fitted or loaded
        self.register_buffer("edges", torch.linspace(-2.0, 2.0, bins + 1).repeat(num_numeric, 1))

    def fit(self, numeric: np.ndarray, max_rows: int = MAX_FIT_ROWS) -> None:
        """Edges at the quantiles of ``numeric`` (N, Fn), or of a seeded draw of ``max_rows`` of its rows (a memory
        map is read only there); edge t moves up by t * MIN_BIN_WIDTH, so tied quantiles (a column of few distinct
        values) come apart and a repeated value becomes a step, not a division by zero."""
        if len(numeric) > max_rows:
            numeric = numeric[np.sort(np.random.default_rng(0).choice(len(numeric), max_rows, replace=False))]
        levels = np.linspace(0.0, 1.0, self.edges.shape[1])
        edges = np.quantile(np.asarray(numeric, dtype=np.float64), levels, axis=0).T  # (Fn, T + 1)
        edges = np.maximum.accumulate(edges + MIN_BIN_WIDTH * np.arange(edges.shape[1]), axis=1)
        self.edges.copy_(torch.from_numpy(edges))

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        left, width = self.edges[:, :-1], self.edges.diff(dim=1)  # (Fn, T) each
        return ((numeric.unsqueeze(-1) - left) / width).clamp(0.0, 1.0)  # (B, Fn, T)


class RawNumerics(nn.Module):
    """No embedding: each value as its own one-element vector, so the MLP reads the standardized columns."""

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        return numeric.unsqueeze(-1)  # (B, Fn, 1)


_FACTORIES: dict[str, Callable[[int, int, float], nn.Module]] = {
    "none": lambda num_numeric, dim, sigma: RawNumerics(),
    "linear": lambda num_numeric, dim, sigma: LinearReLUEmbeddings(num_numeric, dim),
    "periodic": lambda num_numeric, dim, sigma: PeriodicEmbeddings(num_numeric, dim, sigma=sigma),
    "piecewise_linear": lambda num_numeric, dim, sigma: PiecewiseLinearEncoding(num_numeric, dim),
}


def create_numeric_embeddings(name: NumericEmbeddingName, num_numeric: int, dim: int, sigma: float) -> nn.Module:
    """The embedding ``name`` for ``num_numeric`` columns; its output width per feature is :func:`embedding_width`."""
    return _FACTORIES[name](num_numeric, dim, sigma)


def embedding_width(name: NumericEmbeddingName, dim: int) -> int:
    return 1 if name == "none" else dim
