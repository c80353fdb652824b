"""Table encoders: an MLP over embedded rows, and an FT-Transformer (Gorishniy et al., 2021, "Revisiting Deep
Learning Models for Tabular Data"). Both take a :class:`TableBatch` and return pooled embeddings (B, dim)."""

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from selfsup.encoders import register_encoder_kind
from selfsup.params import CommonParams
from selfsup.tabular.batch import TableBatch
from selfsup.tabular.numeric_embeddings import (
    NumericEmbeddingName,
    NumericTokens,
    PiecewiseLinearEncoding,
    create_numeric_embeddings,
    embedding_width,
)
from selfsup.tabular.schema import TableSchema

TableEncoderName = Literal["mlp", "ft_transformer"]
_KINDS = {"mlp": "tabular_mlp", "ft_transformer": "ft_transformer"}


@dataclass(frozen=True)
class TabularParams(CommonParams):
    """Parameters every table method shares: the common ones, with defaults for small tables, plus the encoder."""

    epochs: Annotated[int, Field(ge=1, le=10_000, description="Passes over the dataset.")] = 50
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate after warm-up.")] = 1e-3
    weight_decay: Annotated[float, Field(ge=0, le=1, description="Decoupled weight decay.")] = 1e-5
    encoder: Annotated[TableEncoderName, Field(description="Encoder architecture.")] = "mlp"
    width: Annotated[int, Field(ge=8, le=4096, description="MLP hidden and output size.")] = 256
    depth: Annotated[int, Field(ge=1, le=12, description="MLP layers, or FT-Transformer blocks.")] = 3
    token_dim: Annotated[
        int, Field(ge=4, le=1024, description="FT-Transformer token (and output) size; MLP category embedding size.")
    ] = 32
    heads: Annotated[int, Field(ge=1, le=32, description="FT-Transformer attention heads; divides token_dim.")] = 4
    dropout: Annotated[float, Field(ge=0, lt=1, description="Dropout inside the encoder.")] = 0.1
    # "none" measured best for SCARF on KEEL letter (bench/quality.py --table letter, 5000 rows, 10 epochs of 256,
    # seed 0; kNN / linear): none 0.854 / 0.879, linear 0.808 / 0.868, periodic sigma 0.1 0.815 / 0.848, sigma 1.0
    # 0.726 / 0.664. At this budget the embeddings' extra parameters cost more than they bring.
    numeric_embedding: Annotated[
        NumericEmbeddingName,
        Field(
            description="MLP only: per-feature embedding of numerics (Gorishniy et al., 2022), token_dim wide "
            "(piecewise_linear: token_dim quantile bins of the training table)."
        ),
    ] = "none"
    periodic_sigma: Annotated[
        float, Field(gt=0, le=100, description="Initial frequency scale of the periodic numeric embedding.")
    ] = 1.0

    def __post_init__(self) -> None:
        if self.token_dim % self.heads:
            raise ValueError(f"token_dim {self.token_dim} is not divisible by heads {self.heads}")


@dataclass(frozen=True)
class TabularEncoderSpec:
    """What rebuilds a table encoder: its kind, the table's shape (numerics, category counts) and sizes."""

    kind: Literal["tabular_mlp", "ft_transformer"]
    num_numeric: int
    cardinalities: tuple[int, ...]
    width: int = 256
    depth: int = 3
    token_dim: int = 32
    heads: int = 4
    dropout: float = 0.1
    numeric_embedding: NumericEmbeddingName = "none"  # absent from specs written before it existed
    periodic_sigma: float = 1.0

    @property
    def name(self) -> str:
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cardinalities": list(self.cardinalities)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TabularEncoderSpec":
        return cls(**{**raw, "cardinalities": tuple(int(c) for c in raw["cardinalities"])})


class CategoryEmbeddings(nn.Module):
    """One embedding table per categorical column, stored as one table with per-column offsets.

    (B, Fc) int64 codes -> (B, Fc, E).
    """

    def __init__(self, cardinalities: tuple[int, ...], dim: int) -> None:
        super().__init__()
        self.offsets: torch.Tensor  # (Fc,) where each column's rows start in the table
        self.register_buffer("offsets", torch.tensor([0, *cardinalities]).cumsum(0)[:-1], persistent=False)
        self.table = nn.Embedding(max(sum(cardinalities), 1), dim)
        nn.init.uniform_(self.table.weight, -(dim**-0.5), dim**-0.5)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.table(codes + self.offsets)  # (B, Fc, E)


class TabularMLP(nn.Module):
    """Numerics (as they are, or embedded feature-wise: see :mod:`selfsup.tabular.numeric_embeddings`)
    concatenated with per-column category embeddings, then ``depth`` linear layers (LayerNorm, ReLU and dropout
    between them). (B, Fn) + (B, Fc) -> (B, width)."""

    def __init__(self, spec: TabularEncoderSpec) -> None:
        super().__init__()
        self.spec, self.dim = spec, spec.width
        self.numeric_embeddings = create_numeric_embeddings(
            spec.numeric_embedding, spec.num_numeric, spec.token_dim, spec.periodic_sigma
        )
        self.embeddings = CategoryEmbeddings(spec.cardinalities, spec.token_dim)
        numeric_width = spec.num_numeric * embedding_width(spec.numeric_embedding, spec.token_dim)
        size = numeric_width + len(spec.cardinalities) * spec.token_dim
        layers: list[nn.Module] = []
        for _ in range(spec.depth - 1):
            layers += [nn.Linear(size, spec.width), nn.LayerNorm(spec.width), nn.ReLU(), nn.Dropout(spec.dropout)]
            size = spec.width
        self.layers = nn.Sequential(*layers, nn.Linear(size, spec.width))

    def forward(self, batch: TableBatch) -> torch.Tensor:
        numerics = self.numeric_embeddings(batch.numeric).flatten(1)  # (B, Fn * E), E = 1 without an embedding
        categories = self.embeddings(batch.categorical).flatten(1)  # (B, Fc * E)
        return self.layers(torch.cat([numerics, categories], dim=1))  # (B, width)


class FTTransformer(nn.Module):
    """Feature tokens plus a [CLS] token through pre-norm transformer blocks; the embedding is the final [CLS]
    state. (B, Fn) + (B, Fc) -> (B, token_dim)."""

    def __init__(self, spec: TabularEncoderSpec) -> None:
        super().__init__()
        self.spec, self.dim = spec, spec.token_dim
        self.numeric_tokens = NumericTokens(spec.num_numeric, spec.token_dim)
        self.category_tokens = CategoryEmbeddings(spec.cardinalities, spec.token_dim)
        self.cls = nn.Parameter(
            torch.empty(1, 1, spec.token_dim).uniform_(-(spec.token_dim**-0.5), spec.token_dim**-0.5)
        )
        block = nn.TransformerEncoderLayer(
            spec.token_dim,
            spec.heads,
            dim_feedforward=2 * spec.token_dim,
            dropout=spec.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,  # pre-norm, as the paper found more stable
        )
        self.blocks = nn.TransformerEncoder(block, spec.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(spec.token_dim)

    def forward(self, batch: TableBatch) -> torch.Tensor:
        tokens = torch.cat(
            [
                self.cls.expand(batch.num_rows, -1, -1),  # (B, 1, D)
                self.numeric_tokens(batch.numeric),  # (B, Fn, D)
                self.category_tokens(batch.categorical),  # (B, Fc, D)
            ],
            dim=1,
        )
        return self.norm(self.blocks(tokens)[:, 0])  # (B, D)


TableEncoder = TabularMLP | FTTransformer


def create_table_encoder(schema: TableSchema, params: TabularParams, numeric: np.ndarray | None = None) -> TableEncoder:
    """A randomly initialized encoder for ``schema``'s feature columns, sized by ``params``; a piecewise linear
    numeric encoding takes its bins from ``numeric``, the table's encoded numerics (N, Fn); no other encoder
    reads them."""
    spec = TabularEncoderSpec(
        kind=_KINDS[params.encoder],  # type: ignore[arg-type]
        num_numeric=len(schema.numeric_columns),
        cardinalities=schema.cardinalities,
        width=params.width,
        depth=params.depth,
        token_dim=params.token_dim,
        heads=params.heads,
        dropout=params.dropout,
        numeric_embedding=params.numeric_embedding,
        periodic_sigma=params.periodic_sigma,
    )
    encoder = table_encoder_from_spec(spec)
    if isinstance(encoder, TabularMLP) and isinstance(encoder.numeric_embeddings, PiecewiseLinearEncoding):
        if numeric is None:
            raise ValueError("a piecewise linear numeric encoding needs the table's numerics to place its bins")
        encoder.numeric_embeddings.fit(numeric)
    return encoder


def table_encoder_from_spec(spec: TabularEncoderSpec) -> TableEncoder:
    return TabularMLP(spec) if spec.kind == "tabular_mlp" else FTTransformer(spec)


@register_encoder_kind("tabular_mlp")
def _mlp_from_dict(raw: dict[str, Any]) -> nn.Module:
    return TabularMLP(TabularEncoderSpec.from_dict(raw))


@register_encoder_kind("ft_transformer")
def _ft_transformer_from_dict(raw: dict[str, Any]) -> nn.Module:
    return FTTransformer(TabularEncoderSpec.from_dict(raw))
