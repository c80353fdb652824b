"""Denoising autoencoder for tables (Vincent et al., 2008, "Extracting and Composing Robust Features with
Denoising Autoencoders"), with the swap noise that made DAEs work on tables (Jahrer, Porto Seguro Kaggle
winning solution, 2018)."""

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import Field

from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.tabular.batch import TableBatch
from selfsup.tabular.corruption import batch_donors, bernoulli_mask, replace_features
from selfsup.tabular.encoders import TableEncoder, TabularParams
from selfsup.tabular.numeric_embeddings import NumericEmbeddingName
from selfsup.tabular.reconstruction import FeatureDecoder, reconstruction_loss
from selfsup.whitening import TABLE_RIDGE


@dataclass(frozen=True)
class TabularDAEParams(TabularParams):
    noise: Annotated[
        Literal["swap", "gaussian"],
        Field(description="swap: features replaced by other rows' values; gaussian: noise added to numerics."),
    ] = "swap"
    swap_rate: Annotated[float, Field(ge=0, lt=1, description="Probability that a feature is swapped.")] = 0.15
    noise_std: Annotated[float, Field(ge=0, le=5, description="Gaussian noise std, in standard deviations.")] = 0.3
    decoder_hidden: Annotated[int, Field(ge=8, le=4096, description="Hidden size of the decoder.")] = 256
    # Quantile piecewise linear encoding of numerics and 3e-3, against raw numerics at 1e-3 (KEEL, 5000 rows, 30
    # epochs of 256, seed 0; kNN / linear, random init beside): letter 0.918 / 0.875 (0.911 / 0.863) -> 0.914 / 0.868
    # (0.862 / 0.786), satimage 0.913 / 0.883 (0.905 / 0.861) -> 0.910 / 0.876 (0.880 / 0.843), magic 0.816 / 0.846
    # (0.822 / 0.839) -> 0.825 / 0.828 (0.800 / 0.827): level on the trained side, where the random init of an MLP on
    # raw numerics was as good as the trained one (bench/quality_tables.py).
    numeric_embedding: Annotated[
        NumericEmbeddingName,
        Field(description="MLP only: per-feature embedding of numerics (Gorishniy et al., 2022), token_dim wide."),
    ] = "piecewise_linear"
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate after warm-up.")] = 3e-3


def corrupt_table(batch: TableBatch, params: TabularDAEParams) -> TableBatch:
    """Swap noise on every feature at ``swap_rate``; with ``noise="gaussian"`` numerics instead get
    N(0, noise_std^2) added (categoricals are still swapped: there is no Gaussian noise for codes)."""
    mask = bernoulli_mask(batch.num_rows, batch.num_features, params.swap_rate, device=batch.device)  # (B, F)
    swapped = replace_features(batch, mask, batch_donors(batch))
    if params.noise == "swap":
        return swapped
    noisy = batch.numeric + params.noise_std * torch.randn_like(batch.numeric)  # (B, Fn)
    return TableBatch(noisy, swapped.categorical)


@register_method(
    "tabular_dae", family="generative", modalities=("tabular",), params=TabularDAEParams, default_for=("tabular",)
)
class TabularDAE(SSLMethod):
    """Denoising autoencoder: reconstruct every clean feature of a row from the embedding of a corrupted copy
    (squared error for numerics, cross entropy for categoricals, averaged per feature).

    The served embedding is the encoder's output (no head).
    """

    # KEEL letter, 5000 rows, 30 epochs of 256, seeds 0 / 1: kNN 0.853 / 0.840 -> 0.915 / 0.932 whitened, past raw
    # columns' 0.874 / 0.869; linear about level (0.873 / 0.889 -> 0.874 / 0.877) (bench/quality_tables.py)
    serve_whitened = True
    whitening_ridge = TABLE_RIDGE

    def __init__(self, params: TabularDAEParams, encoder: TableEncoder) -> None:
        super().__init__(params, encoder)
        spec = encoder.spec
        self.decoder = FeatureDecoder(encoder.dim, spec.num_numeric, spec.cardinalities, params.decoder_hidden)

    def make_views(self, batch: TableBatch) -> list[TableBatch]:
        return [batch, corrupt_table(batch, self.params)]  # target, input

    def training_loss(self, views: list[TableBatch]) -> torch.Tensor:
        clean, corrupted = views
        return reconstruction_loss(self.decoder(self.backbone(corrupted)), clean)
