"""Images as training data: the canonical (N, S, S, 3) uint8 array behind the :class:`TrainingData` contract."""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from selfsup.augment import simclr_view, to_float_images
from selfsup.backbones import create_backbone
from selfsup.data.base import TrainingData
from selfsup.data.image_store import HostImages, ImageStore, ResidentImages, place_images
from selfsup.pretrained_backbones import load_pretrained_backbone


class ImageData(TrainingData):
    """Batches are (B, 3, S, S) floats in [0, 1] on the device; the array may be memory-mapped, or be kept on the
    device when it fits (:meth:`keep_on`)."""

    modality = "image"

    def __init__(self, images: np.ndarray, *, pretrained_dir: str | Path | None = None) -> None:
        if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[3] != 3:
            raise ValueError(f"expected (N, S, S, 3) images, got {images.shape}")
        self.images = images
        self.pretrained_dir = pretrained_dir  # where the model ``params.pretrained`` names lives on this host
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
        """A randomly initialized backbone, or one holding the pretrained weights ``params.pretrained`` names: in
        ``pretrained_dir`` when given (``params.pretrained`` then being only its name, the same on every host, as
        a checkpoint records it), else at the path ``params.pretrained``."""
        if params.pretrained is None:
            return create_backbone(params.backbone, image_size=self.image_size)
        model_dir = self.pretrained_dir or params.pretrained
        return load_pretrained_backbone(model_dir, backbone=params.backbone, image_size=self.image_size)

    def probe_view(self, batch: torch.Tensor) -> torch.Tensor:
        return self._probe_view(batch)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "image_size": self.image_size}


def as_training_data(data: TrainingData | np.ndarray) -> TrainingData:
    """A bare (N, S, S, 3) uint8 array is image data, the engine's first and commonest case."""
    return ImageData(data) if isinstance(data, np.ndarray) else data
