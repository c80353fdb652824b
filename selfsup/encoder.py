"""A trained encoder, loaded from its file alone, that turns images into unit vectors."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from selfsup.augment import to_float_images
from selfsup.backbones import Backbone, BackboneSpec, backbone_from_spec
from selfsup.data.images import decode_image
from selfsup.methods import get_method
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, ENCODER_FORMAT, load_payload
from selfsup.train.export import head_from_payload, linear_head


class Encoder:
    """Embeds canonical images with a trained backbone: pooled features, through the method's embedding head
    if it has one (a VAE's mean, say), L2-normalized, float32."""

    def __init__(
        self, backbone: Backbone, *, method: str, head: nn.Linear | None = None, device: str | None = None
    ) -> None:
        self.device = torch.device(device or "cpu")
        self.backbone = backbone.to(self.device).eval()
        self.head = head.to(self.device).eval() if head is not None else None
        self.method = method
        self.modality = "image"

    @property
    def dim(self) -> int:
        return self.head.out_features if self.head is not None else self.backbone.dim

    @property
    def image_size(self) -> int:
        return self.backbone.spec.image_size

    @classmethod
    def load(cls, path: Path | str, *, device: str | None = None) -> "Encoder":
        """Load from an exported encoder file or from a full training checkpoint."""
        payload = load_payload(Path(path), (ENCODER_FORMAT, CHECKPOINT_FORMAT))
        load_parts = _from_checkpoint if payload["format"] == CHECKPOINT_FORMAT else _from_export
        backbone, head = load_parts(payload)
        return cls(backbone, method=str(payload["method"]), head=head, device=device)

    @torch.inference_mode()
    def embed(self, images: np.ndarray, *, batch_size: int = 128) -> np.ndarray:
        """(B, S, S, 3) uint8 canonical images -> (B, D) float32 unit vectors."""
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(f"expected (B, {self.image_size}, {self.image_size}, 3) images, got {images.shape}")
        chunks = []
        for start in range(0, len(images), batch_size):
            batch = torch.tensor(images[start : start + batch_size], device=self.device)  # copies: may be read-only
            features = self.backbone(to_float_images(batch))  # (b, backbone dim)
            if self.head is not None:
                features = self.head(features)  # (b, D)
            chunks.append(torch.nn.functional.normalize(features.float(), dim=1).cpu())
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.dim), np.float32)

    def embed_encoded(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Encoded image files (PNG, JPEG, ...) -> (B, D), prepared exactly as at ingest."""
        return self.embed(np.stack([decode_image(blob, self.image_size) for blob in blobs]))


def _from_export(payload: dict[str, Any]) -> tuple[Backbone, nn.Linear | None]:
    backbone = backbone_from_spec(BackboneSpec.from_dict(payload["backbone"]))
    backbone.load_state_dict(payload["state_dict"])
    return backbone, head_from_payload(payload["head"]) if "head" in payload else None


def _from_checkpoint(payload: dict[str, Any]) -> tuple[Backbone, nn.Linear | None]:
    """Rebuild the whole method from its registry name and params, so its embedding head comes back too."""
    spec = get_method(payload["method"])
    backbone = backbone_from_spec(BackboneSpec.from_dict(payload["backbone"]))
    model = spec.method_cls(spec.validate(payload["params"]), backbone)
    model.load_state_dict(payload["model"])
    return model.backbone, linear_head(model.embedding_head())
