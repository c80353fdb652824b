"""SCARF (Bahri et al., 2022, "SCARF: Self-Supervised Contrastive Learning using Random Feature Corruption")."""

from dataclasses import dataclass
from typing import Annotated

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from pydantic import Field

from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.tabular.batch import TableBatch
from selfsup.tabular.corruption import batch_donors, exact_fraction_mask, replace_features
from selfsup.tabular.encoders import TableEncoder, TabularParams
from selfsup.whitening import TABLE_RIDGE


@dataclass(frozen=True)
class ScarfParams(TabularParams):
    # The paper's 0.6 kept: on KEEL letter (5000 rows, 30 epochs of 256, seed 0) 0.3 gave kNN / linear 0.883 / 0.886
    # against 0.6's 0.880 / 0.883, inside the seed-to-seed spread (bench/quality_tables.py).
    corruption_rate: Annotated[
        float, Field(gt=0, lt=1, description="Fraction of each row's features replaced by marginal draws.")
    ] = 0.6
    # The paper's 1.0 barely moves the loss on small tables; 0.1 trained and lifted kNN on every bundled set we
    # measured (bench/quality.py: breast_cancer 0.947 -> 0.956, digits 0.889 -> 0.964, diabetes 0.523 -> 0.545).
    temperature: Annotated[float, Field(gt=0, le=10, description="InfoNCE softmax temperature.")] = 0.1
    projection_dim: Annotated[int, Field(ge=8, le=4096, description="Output size of the projection head.")] = 128
    hidden_dim: Annotated[int, Field(ge=8, le=4096, description="Hidden size of the projection head.")] = 256
    # 3e-3 rather than the tables' 1e-3: at 30 epochs of 256 on 5000 rows (600 steps) the encoder barely leaves its
    # random init at 1e-3. KEEL, seed 0, kNN / linear: letter 0.919 / 0.876 -> 0.914 / 0.885, satimage 0.907 / 0.869
    # -> 0.909 / 0.886, magic level; 1e-2 lost 0.014 of magic's kNN (bench/quality_tables.py).
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate after warm-up.")] = 3e-3


@register_method("scarf", family="contrastive", modalities=("tabular",), params=ScarfParams)
class Scarf(SSLMethod):
    """SCARF: each row against a copy with a random subset of its features redrawn from their marginals.

    The corrupted values are drawn from other rows of the same batch (see :mod:`selfsup.tabular.corruption`:
    a method only sees the batch, which is a uniform sample of the dataset, so a random batch row gives a
    draw from each feature's empirical marginal). The anchor is the clean row, as in the paper; the loss is
    lightly's NT-Xent (the InfoNCE of SimCLR, with both views' other rows as negatives).
    """

    # KEEL letter, 5000 rows, 30 epochs of 256, seeds 0 / 1: kNN 0.880 / 0.850 -> 0.915 / 0.916 whitened, past raw
    # columns' 0.874 / 0.869; linear 0.884 / 0.902 -> 0.857 / 0.884; ring's kNN 0.894 / 0.898 -> 0.886 / 0.866
    # (bench/quality_tables.py)
    serve_whitened = True
    whitening_ridge = TABLE_RIDGE

    def __init__(self, params: ScarfParams, encoder: TableEncoder) -> None:
        super().__init__(params, encoder)
        self.head = SimCLRProjectionHead(encoder.dim, params.hidden_dim, params.projection_dim)
        self.criterion = NTXentLoss(temperature=params.temperature)

    def make_views(self, batch: TableBatch) -> list[TableBatch]:
        mask = exact_fraction_mask(batch.num_rows, batch.num_features, self.params.corruption_rate, device=batch.device)
        return [batch, replace_features(batch, mask, batch_donors(batch))]  # anchor, corrupted

    def training_loss(self, views: list[TableBatch]) -> torch.Tensor:
        anchor, corrupted = views
        z = self.head(self.backbone(anchor.cat(corrupted)))  # one pass shares BatchNorm statistics: (2B, P)
        return self.criterion(z[: anchor.num_rows], z[anchor.num_rows :])
