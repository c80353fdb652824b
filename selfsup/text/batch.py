"""A batch of token ids, and the token-deletion noise shared by TSDAE and the probe view."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded token ids and the mask of real (non-padding) positions, both (B, L) int64."""

    input_ids: torch.Tensor  # (B, L) int64
    attention_mask: torch.Tensor  # (B, L) int64, 1 on tokens, 0 on padding

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> "TokenBatch":
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device))

    @classmethod
    def from_ids(cls, ids: np.ndarray | torch.Tensor, pad: int) -> "TokenBatch":
        """(B, L) right-padded ids -> a batch cut to its longest item (padding is every ``pad`` position)."""
        input_ids = torch.as_tensor(ids, dtype=torch.int64)
        mask = (input_ids != pad).long()  # (B, L)
        width = max(int(mask.sum(dim=1).max()), 1) if len(input_ids) else 0
        return cls(input_ids[:, :width].contiguous(), mask[:, :width].contiguous())

    @staticmethod
    def concat(batches: Sequence["TokenBatch"], pad: int) -> "TokenBatch":
        """Stack batches along B, padding them to a common length."""
        width = max(b.input_ids.shape[1] for b in batches)
        ids = torch.cat([_pad_to(b.input_ids, width, pad) for b in batches])
        mask = torch.cat([_pad_to(b.attention_mask, width, 0) for b in batches])
        return TokenBatch(ids, mask)


def content_mask(batch: TokenBatch, special_ids: Sequence[int]) -> torch.Tensor:
    """(B, L) bool: True on real tokens that are not special (what masking and deletion may touch)."""
    special = torch.isin(batch.input_ids, torch.tensor(list(special_ids), device=batch.input_ids.device))
    return batch.attention_mask.bool() & ~special


def delete_tokens(batch: TokenBatch, ratio: float, special_ids: Sequence[int], *, pad: int) -> TokenBatch:
    """Delete each non-special token with probability ``ratio`` (global torch RNG), closing the gaps.

    Special tokens stay, and so does at least one content token per row that had any (a random one), so no
    sequence is left without content (TSDAE, Wang et al., 2021, keeps one as well). Returns (B, L') with
    L' <= L the longest remaining row.
    """
    content = content_mask(batch, special_ids)  # (B, L)
    drop = content & (torch.rand(content.shape, device=content.device) < ratio)
    survivor = _one_random_true(content)  # (B, L): keep one content token in every row
    keep = batch.attention_mask.bool() & ~(drop & ~survivor)
    position = keep.long().cumsum(dim=1) - 1  # (B, L) where each kept token lands
    width = max(int(keep.sum(dim=1).max()), 1)
    ids = torch.full((len(batch), width), pad, dtype=torch.int64, device=content.device)
    rows = torch.arange(len(batch), device=content.device)[:, None].expand_as(keep)
    ids[rows[keep], position[keep]] = batch.input_ids[keep]
    mask = (torch.arange(width, device=content.device) < keep.sum(dim=1, keepdim=True)).long()
    return TokenBatch(ids, mask)


def _one_random_true(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) bool -> (B, L) bool with one True per row, picked uniformly among ``mask``'s (none if it has none)."""
    scores = torch.rand(mask.shape, device=mask.device).masked_fill(~mask, -1.0)
    picked = torch.zeros_like(mask)
    picked[torch.arange(len(mask), device=mask.device), scores.argmax(dim=1)] = True
    return picked & mask


def _pad_to(tensor: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(tensor, (0, width - tensor.shape[1]), value=value)
