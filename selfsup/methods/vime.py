"""VIME, self-supervised part (Yoon et al., 2020, "VIME: Extending the Success of Self- and Semi-supervised
Learning to Tabular Domain")."""

from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.tabular.batch import TableBatch
from selfsup.tabular.corruption import batch_donors, bernoulli_mask, changed_features, replace_features
from selfsup.tabular.encoders import TableEncoder, TabularParams
from selfsup.tabular.numeric_embeddings import NumericEmbeddingName
from selfsup.tabular.reconstruction import FeatureDecoder, reconstruction_loss
from selfsup.whitening import TABLE_RIDGE


@dataclass(frozen=True)
class VimeParams(TabularParams):
    # 0.15 against 0.3, served whitened (KEEL, 5000 rows, 30 epochs of 256, seeds 0 / 1; kNN / linear gain over the
    # random init): letter +0.005 / +0.016 and +0.004 / +0.038 against -0.003 / +0.002 and +0.009 / +0.035, satimage
    # +0.005 / +0.012 and +0.010 / +0.010 against +0.003 / +0.010 and +0.016 / +0.006; ring and magic level. Mostly
    # inside the seed-to-seed spread, but it ends VIME's one loss to its random init on letter (bench/quality_tables).
    mask_rate: Annotated[float, Field(gt=0, lt=1, description="Probability p_m that a feature is corrupted.")] = 0.15
    # The paper's 2.0 weighs reconstruction over mask estimation; 0.5 did better on both probes on KEEL letter (5000
    # rows, 30 epochs of 256; kNN / linear): seed 0 alpha 0.1 0.814 / 0.874, 0.5 0.821 / 0.881, 2.0 0.798 / 0.867,
    # 5.0 0.796 / 0.861; seed 1 0.5 0.811 / 0.886, 2.0 0.789 / 0.873. mask_rate 0.5 (0.759 / 0.865) lost to 0.3.
    alpha: Annotated[float, Field(ge=0, le=100, description="Weight of feature reconstruction vs mask loss.")] = 0.5
    decoder_hidden: Annotated[int, Field(ge=8, le=4096, description="Hidden size of the feature estimator.")] = 128
    # Quantile piecewise linear encoding of numerics against raw numerics (KEEL, 5000 rows, 30 epochs of 256, seed 0;
    # kNN / linear, random init beside): letter 0.911 / 0.879 (0.911 / 0.863) -> 0.915 / 0.881 (0.862 / 0.786),
    # satimage 0.910 / 0.875 (0.905 / 0.861) -> 0.915 / 0.876 (0.880 / 0.843), magic 0.826 / 0.850 (0.822 / 0.839)
    # -> 0.825 / 0.850 (0.800 / 0.827): as good trained, and far from its random init (bench/quality_tables.py).
    numeric_embedding: Annotated[
        NumericEmbeddingName,
        Field(description="MLP only: per-feature embedding of numerics (Gorishniy et al., 2022), token_dim wide."),
    ] = "piecewise_linear"


@register_method("vime", family="masked", modalities=("tabular",), params=VimeParams)
class Vime(SSLMethod):
    """VIME: from a row whose features were redrawn from their marginals where m ~ Bernoulli(p_m), predict which
    features were replaced (mask estimator, BCE) and the original values (feature estimator).

    Loss = BCE(mask) + alpha * reconstruction, where reconstruction is squared error for numerics and cross
    entropy for categoricals, averaged per feature. As in the authors' code, the mask target is whether the
    value actually changed (a draw can equal the original). Marginal draws come from the batch (see
    :mod:`selfsup.tabular.corruption`).
    """

    # KEEL letter, 5000 rows, 30 epochs of 256, seeds 0 / 1: kNN 0.821 / 0.811 -> 0.908 / 0.921 whitened, past raw
    # columns' 0.874 / 0.869 and its random init; linear 0.882 / 0.887 -> 0.865 / 0.878 (bench/quality_tables.py)
    serve_whitened = True
    whitening_ridge = TABLE_RIDGE

    def __init__(self, params: VimeParams, encoder: TableEncoder) -> None:
        super().__init__(params, encoder)
        spec = encoder.spec
        dim, num_features = encoder.dim, spec.num_numeric + len(spec.cardinalities)
        self.mask_estimator = nn.Linear(dim, num_features)
        self.feature_estimator = FeatureDecoder(dim, spec.num_numeric, spec.cardinalities, params.decoder_hidden)

    def make_views(self, batch: TableBatch) -> list[TableBatch]:
        mask = bernoulli_mask(batch.num_rows, batch.num_features, self.params.mask_rate, device=batch.device)
        return [batch, replace_features(batch, mask, batch_donors(batch))]  # clean, corrupted

    def training_loss(self, views: list[TableBatch]) -> torch.Tensor:
        clean, corrupted = views
        features = self.backbone(corrupted)  # (B, D)
        changed = changed_features(clean, corrupted)  # (B, F) mask target
        mask_loss = F.binary_cross_entropy_with_logits(self.mask_estimator(features).float(), changed)
        return mask_loss + self.params.alpha * reconstruction_loss(self.feature_estimator(features), clean)
