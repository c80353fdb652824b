"""MAE (He et al., 2022, "Masked Autoencoders Are Scalable Vision Learners")."""

from dataclasses import dataclass
from typing import Annotated, cast

import torch
import torch.nn.functional as F
from lightly.models import utils
from lightly.models.modules import MaskedVisionTransformerTIMM
from lightly.models.modules.masked_vision_transformer_decoder_timm import MaskedVisionTransformerDecoderTIMM
from pydantic import Field
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from selfsup.augment import random_resized_crop
from selfsup.backbones import Backbone, ViTName, is_vit
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class MAEParams(TrainingParams):
    """The paper's recipe (its appendix A.1) with a smaller decoder (8 blocks of 512 there)."""

    backbone: Annotated[ViTName, Field(description="Encoder architecture: MAE masks patch tokens, so a ViT.")] = (
        "vit_tiny"
    )
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate (1.5e-4 per 256 images).")] = 1.5e-4
    weight_decay: Annotated[float, Field(ge=0, le=1, description="Decoupled weight decay.")] = 0.05
    mask_ratio: Annotated[float, Field(ge=0.1, le=0.95, description="Fraction of patches masked.")] = 0.75
    decoder_dim: Annotated[int, Field(ge=16, le=1024, description="Width of the decoder.")] = 128
    decoder_depth: Annotated[int, Field(ge=1, le=12, description="Transformer blocks in the decoder.")] = 2
    decoder_heads: Annotated[int, Field(ge=1, le=16, description="Attention heads (must divide the width).")] = 4
    norm_pix_loss: Annotated[bool, Field(description="Predict each patch standardized by its own statistics.")] = True
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 0.2

    def __post_init__(self) -> None:
        if self.decoder_dim % self.decoder_heads:
            raise ValueError("decoder_dim must be a multiple of decoder_heads")


@register_method("mae", family="masked", modalities=("image",), params=MAEParams)
class MAE(SSLMethod):
    """MAE: reconstruct the pixels of randomly masked patches from the visible ones (MSE on masked patches).

    The encoder sees only the kept patches (and the class token); a light decoder gets them back in place,
    fills the masked positions with a learned mask token and predicts every masked patch's pixels. The
    served encoder is the backbone itself, which embeds whole, unmasked images as the mean of its patch tokens:
    the loss trains those, and reaches the class token only through attention (served, it barely moved from its
    random init; see bench/mae_pooling.py). Exports record the pooling; those from before it serve the class token.
    """

    def __init__(self, params: MAEParams, backbone: Backbone) -> None:
        if not is_vit(backbone.spec.name):
            raise ValueError(f"MAE needs a ViT backbone, got {backbone.spec.name!r}")
        super().__init__(params, backbone)
        backbone.pool_tokens("avg")
        vit = cast(VisionTransformer, backbone.trunk)
        # Wraps, does not copy, the backbone's ViT: MAE's init and a fixed sine-cosine position embedding, or,
        # from pretrained weights, those weights and their learned position embedding as they are.
        skip = "skip" if backbone.spec.pretrained else ""
        self.encoder = MaskedVisionTransformerTIMM(
            vit=vit, weight_initialization=skip, pos_embed_initialization=skip or "sincos"
        )
        self.patch_size = int(vit.patch_embed.patch_size[0])
        self.num_patches = int(vit.patch_embed.num_patches)
        self.view_size = int(vit.patch_embed.img_size[0])  # grid * patch: the padded size
        self.decoder_embed = nn.Linear(backbone.dim, params.decoder_dim)
        self.decoder = MaskedVisionTransformerDecoderTIMM(
            num_patches=self.num_patches,
            embed_dim=params.decoder_dim,
            depth=params.decoder_depth,
            num_heads=params.decoder_heads,
            num_prefix_tokens=vit.num_prefix_tokens,
        )
        self.decoder_pred = nn.Linear(params.decoder_dim, self.patch_size**2 * 3)  # token -> patch pixels

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        view = random_resized_crop(images, self.view_size, scale=(self.params.min_scale, 1.0))
        return [view]  # 1 x (B, 3, S, S)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        images = self.backbone.normalize(views[0])  # (B, 3, S, S), the ViT's input and the pixel target
        idx_keep, idx_mask = self.random_mask(images.shape[0], images.device)
        return self.masked_loss(images, idx_keep, idx_mask)

    def num_masked(self) -> int:
        """round(mask_ratio * N) patches, at least one masked and one kept."""
        return min(max(round(self.params.mask_ratio * self.num_patches), 1), self.num_patches - 1)

    def random_mask(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Token indices (B, 1 + N - M) to keep (class token 0 first) and (B, M) to mask, a fresh draw per image."""
        keep = self.num_patches - self.num_masked()
        # lightly keeps int(N * (1 - ratio)) patches: asking for keep + 0.5 makes that floor exactly ``keep``.
        ratio = 1 - (keep + 0.5) / self.num_patches
        return utils.random_token_mask((batch, 1 + self.num_patches), mask_ratio=ratio, device=device)

    def decode(self, images: torch.Tensor, idx_keep: torch.Tensor) -> torch.Tensor:
        """Standardized images (B, 3, S, S) -> decoded tokens (B, 1 + N, decoder_dim), seeing only ``idx_keep``."""
        encoded = self.encoder.encode(images, idx_keep=idx_keep)  # (B, 1 + N - M, D)
        visible = self.decoder_embed(encoded)  # (B, 1 + N - M, d)
        tokens = utils.repeat_token(self.decoder.mask_token, (images.shape[0], 1 + self.num_patches))
        tokens = utils.set_at_index(tokens, idx_keep, visible.type_as(tokens))  # (B, 1 + N, d)
        return self.decoder(tokens)  # adds the decoder's position embedding

    def masked_loss(self, images: torch.Tensor, idx_keep: torch.Tensor, idx_mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the masked patches only (the paper's loss), from token indices."""
        decoded = utils.get_at_index(self.decode(images, idx_keep), idx_mask)  # (B, M, d)
        prediction = self.decoder_pred(decoded).float()  # (B, M, p * p * 3)
        target = utils.get_at_index(utils.patchify(images, self.patch_size), idx_mask - 1)  # token i is patch i - 1
        if self.params.norm_pix_loss:
            target = utils.normalize_mean_var(target, dim=-1)
        return F.mse_loss(prediction, target.float())
