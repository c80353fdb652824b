"""A trained encoder, loaded from its file alone, that turns images into unit vectors."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.augment import to_float_images
from selfsup.backbones import Backbone, BackboneSpec, backbone_from_spec
from selfsup.data.images import decode_image
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, ENCODER_FORMAT, load_payload

BACKBONE_PREFIX = "backbone."


class Encoder:
    """Embeds canonical images with a trained backbone: pooled features, L2-normalized, float32."""

    def __init__(self, backbone: Backbone, *, method: str, device: str | None = None) -> None:
        self.device = torch.device(device or "cpu")
        self.backbone = backbone.to(self.device).eval()
        self.method = method
        self.modality = "image"

    @property
    def dim(self) -> int:
        return self.backbone.dim

    @property
    def image_size(self) -> int:
        return self.backbone.spec.image_size

    @classmethod
    def load(cls, path: Path | str, *, device: str | None = None) -> "Encoder":
        """Load from an exported encoder file or from a full training checkpoint."""
        payload = load_payload(Path(path), (ENCODER_FORMAT, CHECKPOINT_FORMAT))
        backbone = backbone_from_spec(BackboneSpec.from_dict(payload["backbone"]))
        backbone.load_state_dict(_backbone_weights(payload))
        return cls(backbone, method=str(payload["method"]), device=device)

    @torch.inference_mode()
    def embed(self, images: np.ndarray, *, batch_size: int = 128) -> np.ndarray:
        """(B, S, S, 3) uint8 canonical images -> (B, D) float32 unit vectors."""
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(f"expected (B, {self.image_size}, {self.image_size}, 3) images, got {images.shape}")
        chunks = []
        for start in range(0, len(images), batch_size):
            batch = torch.tensor(images[start : start + batch_size], device=self.device)  # copies: may be read-only
            features = self.backbone(to_float_images(batch)).float()  # (b, D)
            chunks.append(torch.nn.functional.normalize(features, dim=1).cpu())
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.dim), np.float32)

    def embed_encoded(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Encoded image files (PNG, JPEG, ...) -> (B, D), prepared exactly as at ingest."""
        return self.embed(np.stack([decode_image(blob, self.image_size) for blob in blobs]))


def _backbone_weights(payload: dict[str, Any]) -> dict[str, torch.Tensor]:
    if payload["format"] == ENCODER_FORMAT:
        return payload["state_dict"]
    model_state = payload["model"]
    return {k[len(BACKBONE_PREFIX) :]: v for k, v in model_state.items() if k.startswith(BACKBONE_PREFIX)}
