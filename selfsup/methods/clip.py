"""CLIP (Radford et al., 2021, "Learning Transferable Visual Models From Natural Language Supervision").

An image tower and a text tower, each followed by a linear projection into one shared space, trained so that
every image is closer to its own caption than to the other captions of the batch, and every caption to its own
image: the symmetric InfoNCE loss over the (B, B) cosine-similarity matrix, scaled by a learned inverse
temperature (initialized at 1 / 0.07 and clipped at 100, as in the paper's section 2.5).
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from selfsup.augment import random_resized_crop
from selfsup.backbones import Backbone, BackboneSpec, create_backbone
from selfsup.encoders import encoder_from_spec, register_encoder_kind
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.pairs.batch import PairBatch
from selfsup.params import BackboneName
from selfsup.text.batch import TokenBatch
from selfsup.text.encoder import PresetName, TextEncoderSpec, TextParams, TextTransformer, create_text_encoder
from selfsup.text.tokenizer import SpecialTokens

MAX_LOGIT_SCALE = 100.0  # the paper clips the learned scale here "to prevent scaling the logits by more than 100"


@dataclass(frozen=True)
class CLIPParams(TextParams):
    """The text tower's parameters (:class:`TextParams`), the image tower's backbone and the shared space."""

    batch_size: Annotated[int, Field(ge=2, le=8192, description="Image-caption pairs per step.")] = 256
    weight_decay: Annotated[float, Field(ge=0, le=1, description="Decoupled weight decay.")] = 0.2
    preset: Annotated[PresetName, Field(description="Text transformer size (ignored with pretrained).")] = "small"
    max_length: Annotated[int, Field(ge=8, le=512, description="Longest caption, in tokens.")] = 77
    backbone: Annotated[BackboneName, Field(description="Image encoder architecture.")] = "resnet18"
    embed_dim: Annotated[int, Field(ge=8, le=4096, description="Size of the shared image-text space.")] = 512
    temperature: Annotated[
        float, Field(ge=0.01, le=1, description="Initial softmax temperature; learned, never below 0.01.")
    ] = 0.07
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest image crop, as area fraction.")] = 0.5


@dataclass(frozen=True)
class ImageTextSpec:
    """Both towers' specs and the size of the shared space; ``image`` is what image serving reads."""

    name: str
    image: BackboneSpec
    text: TextEncoderSpec
    embed_dim: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "image_text",
            "name": self.name,
            "embed_dim": self.embed_dim,
            "image": self.image.to_dict(),
            "text": self.text.to_dict(),
        }


class ImageTextEncoder(nn.Module):
    """Two towers projected into one ``embed_dim`` space; outputs are not normalized (serving normalizes)."""

    def __init__(self, image: Backbone, text: TextTransformer, embed_dim: int) -> None:
        super().__init__()
        self.image_encoder = image
        self.text_encoder = text
        self.image_projection = _projection(image.dim, embed_dim)
        self.text_projection = _projection(text.dim, embed_dim)
        self.dim = embed_dim
        self.spec = ImageTextSpec(f"{image.spec.name}+{text.spec.name}", image.spec, text.spec, embed_dim)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) floats in [0, 1] -> (B, E)."""
        return self.image_projection(self.image_encoder(images))

    def encode_text(self, text: TokenBatch) -> torch.Tensor:
        """(B, L) token ids -> (B, E)."""
        return self.text_projection(self.text_encoder(text))

    def forward(self, batch: PairBatch) -> torch.Tensor:
        """The image embeddings (B, E): an image-text dataset's items are its images."""
        return self.encode_image(batch.images)


def _projection(width: int, embed_dim: int) -> nn.Linear:
    """A bias-free linear map, initialized with std width^-1/2 as in the paper's released code."""
    layer = nn.Linear(width, embed_dim, bias=False)
    nn.init.normal_(layer.weight, std=width**-0.5)
    return layer


def create_image_text_encoder(
    params: CLIPParams,
    *,
    image_size: int,
    vocab_size: int,
    special: SpecialTokens,
    pretrained_dir: str | Path | None = None,
) -> ImageTextEncoder:
    """Randomly initialized towers (the text one pretrained when ``params.pretrained`` names a model, found in
    ``pretrained_dir`` if given: see :func:`create_text_encoder`)."""
    image = create_backbone(params.backbone, image_size=image_size)
    text = create_text_encoder(params, vocab_size=vocab_size, special=special, pretrained_dir=pretrained_dir)
    return ImageTextEncoder(image, text, params.embed_dim)


@register_encoder_kind("image_text")
def image_text_encoder_from_spec(raw: dict[str, Any]) -> ImageTextEncoder:
    """Rebuild the architecture of ``ImageTextSpec.to_dict()`` (random weights, loaded separately)."""
    image, text = encoder_from_spec(raw["image"]), encoder_from_spec(raw["text"])
    if not isinstance(image, Backbone) or not isinstance(text, TextTransformer):
        raise TypeError(f"an image_text spec needs an image backbone and a text transformer, got {raw}")
    return ImageTextEncoder(image, text, int(raw["embed_dim"]))


def clip_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: (B, E) unit image and text vectors, pair i matching i -> scalar.

    The mean of the image->text and text->image cross-entropies over ``logit_scale`` times the cosine
    similarities (the paper's figure 3).
    """
    logits = logit_scale * image @ text.T  # (B, B): row i is image i against every caption
    targets = torch.arange(len(image), device=image.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


@register_method(
    "clip", family="cross_modal", modalities=("image_text",), params=CLIPParams, default_for=("image_text",)
)
class CLIP(SSLMethod):
    """CLIP: images and their captions pulled together in one space against the other pairs of the batch."""

    backbone: ImageTextEncoder

    def __init__(self, params: CLIPParams, backbone: ImageTextEncoder) -> None:
        super().__init__(params, backbone)
        # the log of the inverse temperature is learned, so the scale stays positive
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1 / params.temperature)))
        self.image_size = backbone.spec.image.image_size

    @property
    def logit_scale(self) -> torch.Tensor:
        """The inverse temperature in [1, 100] (a 0-d tensor carrying the gradient)."""
        return self.log_logit_scale.clamp(0.0, math.log(MAX_LOGIT_SCALE)).exp()

    def make_views(self, batch: PairBatch) -> list[Any]:
        # no flip: a caption may say "left" or "right"
        crops = random_resized_crop(batch.images, self.image_size, scale=(self.params.min_scale, 1.0), flip_prob=0.0)
        return [crops, batch.text]  # (B, 3, S, S), (B, L)

    def training_loss(self, views: list[Any]) -> torch.Tensor:
        images, text = views
        image = F.normalize(self.backbone.encode_image(images).float(), dim=1)  # (B, E)
        caption = F.normalize(self.backbone.encode_text(text).float(), dim=1)  # (B, E)
        return clip_loss(image, caption, self.logit_scale)

    def after_step(self, global_step: int, total_steps: int, *, steps_per_epoch: int) -> None:
        # keep the parameter itself in range, so the optimizer's momentum cannot carry it far past the clip
        with torch.no_grad():
            self.log_logit_scale.clamp_(0.0, math.log(MAX_LOGIT_SCALE))

    def embed(self, batch: PairBatch) -> torch.Tensor:
        """(B, E) image embeddings, what the label-free probe and labeled evaluation of the images see."""
        return self.backbone.encode_image(batch.images)
