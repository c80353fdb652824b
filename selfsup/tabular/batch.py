"""What a table encoder takes: one batch of encoded rows."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TableBatch:
    """B encoded rows: standardized numerics (missing imputed as the mean, i.e. 0) and category codes
    (0 = missing, 1 = unknown, 2.. = vocabulary), columns in schema order.

    Features are numbered numerics first, then categoricals, wherever a (B, F) feature mask is used.
    """

    numeric: torch.Tensor  # (B, Fn) float32
    categorical: torch.Tensor  # (B, Fc) int64

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.numeric.shape[0])

    @property
    def num_numeric(self) -> int:
        return int(self.numeric.shape[1])

    @property
    def num_features(self) -> int:
        return int(self.numeric.shape[1] + self.categorical.shape[1])

    @property
    def device(self) -> torch.device:
        return self.numeric.device

    def to(self, device: torch.device | str) -> "TableBatch":
        return TableBatch(self.numeric.to(device, non_blocking=True), self.categorical.to(device, non_blocking=True))

    def split(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A (B, F) per-feature tensor -> its numeric (B, Fn) and categorical (B, Fc) parts."""
        return features[:, : self.num_numeric], features[:, self.num_numeric :]

    def cat(self, other: "TableBatch") -> "TableBatch":
        """Rows of ``self`` then rows of ``other``: (2B, ...), for one encoder pass over two views."""
        return TableBatch(torch.cat([self.numeric, other.numeric]), torch.cat([self.categorical, other.categorical]))
