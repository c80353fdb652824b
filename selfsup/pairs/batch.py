"""The batch an image-text method trains on: the data side's type, which methods import (never the reverse)."""

from dataclasses import dataclass

import torch

from selfsup.text.batch import TokenBatch


@dataclass(frozen=True)
class PairBatch:
    """Images and one caption for each: (B, 3, S, S) floats in [0, 1] and a (B, L) :class:`TokenBatch`."""

    images: torch.Tensor
    text: TokenBatch

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str) -> "PairBatch":
        return PairBatch(self.images.to(device), self.text.to(device))
