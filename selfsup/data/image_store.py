"""Where a canonical (N, S, S, 3) uint8 image array is read from when batches are gathered.

Normally it is the (memory-mapped) array in host memory, and each batch is copied to the device. An array
small enough to fit on the training device is copied there once, as uint8 (a quarter of its float size), and
batches are gathered and augmented there: no host work and no host-to-device copy per step. Both give the
same bytes; the resident store is the same code on CPU, where it is a tensor in host memory.
"""

from typing import Protocol

import numpy as np
import torch

LOAD_CHUNK_BYTES = 64 << 20  # copied to the device this much at a time, so a memory map is never read whole


class ImageStore(Protocol):
    def gather(self, rows: np.ndarray) -> torch.Tensor:
        """(B,) row indices -> (B, S, S, 3) uint8 on the store's device."""
        ...


class HostImages:
    """The array as it is, often a memory map: each gather reads only the rows it asks for."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def gather(self, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.images[rows]))  # fancy indexing copies: writable


class ResidentImages:
    """The whole array copied once onto ``device``; gathers index it there."""

    def __init__(self, images: np.ndarray, device: torch.device) -> None:
        self.device = device
        self.images = torch.empty(images.shape, dtype=torch.uint8, device=device)
        rows_per_chunk = max(LOAD_CHUNK_BYTES // max(images[0].nbytes, 1), 1)
        for start in range(0, len(images), rows_per_chunk):
            chunk = np.array(images[start : start + rows_per_chunk])  # a writable copy of the read-only map
            self.images[start : start + len(chunk)].copy_(torch.from_numpy(chunk))

    def gather(self, rows: np.ndarray) -> torch.Tensor:
        index = torch.as_tensor(rows, dtype=torch.long).to(self.images.device, non_blocking=True)
        return self.images.index_select(0, index)


def place_images(store: ImageStore, images: np.ndarray, device: torch.device, budget_bytes: int) -> ImageStore:
    """A store of ``images`` on ``device`` if the array fits ``budget_bytes`` there (or ``store`` is already
    one), else the host one."""
    if isinstance(store, ResidentImages) and store.device == device:
        return store
    if images.nbytes <= budget_bytes:
        return ResidentImages(images, device)
    return HostImages(images)
