"""Feature-wise embeddings of numeric columns ahead of the MLP (Gorishniy et al., 2022, "On Embeddings for Numerical
Features in Tabular Deep Learning").

An MLP that reads a standardized value as one input can only bend it through its first layer's ReLUs, shared
by every feature; giving each feature its own small vector lets the network learn a feature's shape (thresholds,
periodicity) before mixing features. Each embedding maps (B, Fn) -> (B, Fn, D).
"""

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

NumericEmbeddingName = Literal["none", "linear", "periodic"]


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


class RawNumerics(nn.Module):
    """No embedding: each value as its own one-element vector, so the MLP reads the standardized columns."""

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        return numeric.unsqueeze(-1)  # (B, Fn, 1)


_FACTORIES: dict[str, Callable[[int, int, float], nn.Module]] = {
    "none": lambda num_numeric, dim, sigma: RawNumerics(),
    "linear": lambda num_numeric, dim, sigma: LinearReLUEmbeddings(num_numeric, dim),
    "periodic": lambda num_numeric, dim, sigma: PeriodicEmbeddings(num_numeric, dim, sigma=sigma),
}


def create_numeric_embeddings(name: NumericEmbeddingName, num_numeric: int, dim: int, sigma: float) -> nn.Module:
    """The embedding ``name`` for ``num_numeric`` columns; its output width per feature is :func:`embedding_width`."""
    return _FACTORIES[name](num_numeric, dim, sigma)


def embedding_width(name: NumericEmbeddingName, dim: int) -> int:
    return 1 if name == "none" else dim
