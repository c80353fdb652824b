"""Images as training data: the canonical (N, S, S, 3) uint8 array behind the :class:`TrainingData` contract."""

from typing import Any

import numpy as np
import torch
from torch import nn

from selfsup.augment import simclr_view, to_float_images
from selfsup.backbones import create_backbone
from selfsup.data.base import TrainingData
from selfsup.data.image_store import HostImages, ImageStore, ResidentImages, place_images


class ImageData(TrainingData):
    """Batches are (B, 3, S, S) floats in [0, 1] on the device; the array may be memory-mapped, or be kept on the
    device when it fits (:meth:`keep_on`)."""

    modality = "image"

    def __init__(self, images: np.ndarray) -> None:
        if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[3] != 3:
            raise ValueError(f"expected (N, S, S, 3) images, got {images.shape}")
        self.images = images
        self.store: ImageStore = HostImages(images)
        self.image_size = int(images.shape[1])
        # The probe view is SimCLR's default whatever the method, so alignment and uniformity compare across
        # methods.
        self._probe_view = simclr_view(self.image_size)

    def __len__(self) -> int:
        return len(self.images)

    def gather(self, indices: np.ndarray) -> torch.Tensor:
        return self.store.gather(indices)  # (B, S, S, 3) uint8

    def assemble(self, gathered: torch.Tensor, device: torch.device) -> torch.Tensor:
        return to_float_images(gathered)  # (B, 3, S, S)

    def keep_on(self, device: torch.device, budget_bytes: int) -> bool:
        self.store = place_images(self.store, self.images, device, budget_bytes)
        return isinstance(self.store, ResidentImages)

    def create_encoder(self, params: Any) -> nn.Module:
        return create_backbone(params.backbone, image_size=self.image_size)

    def probe_view(self, batch: torch.Tensor) -> torch.Tensor:
        return self._probe_view(batch)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "image_size": self.image_size}


def as_training_data(data: TrainingData | np.ndarray) -> TrainingData:
    """A bare (N, S, S, 3) uint8 array is image data, the engine's first and commonest case."""
    return ImageData(data) if isinstance(data, np.ndarray) else data
