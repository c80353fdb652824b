"""Seeded, resumable batching over an in-memory or memory-mapped array."""

from collections.abc import Iterator

import numpy as np
import torch


class EpochBatches:
    """Index batches for one epoch, drawn from a permutation fixed by (seed, epoch).

    Because the order is a pure function of (seed, epoch), a run resumed mid-epoch can skip the batches it
    already did and see exactly the remaining ones. The last incomplete batch is dropped (contrastive losses
    want full batches), unless the dataset is smaller than one batch.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int) -> None:
        if num_items < 2:
            raise ValueError("training needs at least 2 items")
        self.num_items = num_items
        self.batch_size = min(batch_size, num_items)
        self.seed = seed

    def __len__(self) -> int:
        return self.num_items // self.batch_size

    def epoch(self, epoch: int, *, skip: int = 0) -> Iterator[np.ndarray]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(self.num_items, generator=generator).numpy()
        for index in range(skip, len(self)):
            # Sorted indices read a memory map front to back; order within a batch does not matter.
            yield np.sort(order[index * self.batch_size : (index + 1) * self.batch_size])
