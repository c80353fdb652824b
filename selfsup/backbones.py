"""Encoders by name through one factory, timm style.

Every backbone is wrapped in :class:`Backbone`, which takes images as floats in [0, 1], normalizes them
itself (so a served encoder can never be fed differently from how it was trained) and offers the
``forward_features`` / pooled-embedding split an embedding service needs.

ViTs (Dosovitskiy et al., 2021) take their patch size from the image size, so that small images still make a
grid of about 8 x 8 tokens (4 px patches at 32 px, 8 at 64, the usual 16 from 128 px up); the patch size is
recorded in the spec. They are built with timm's dynamic image size, so one ViT also embeds smaller crops
(DINO's and SwAV's local crops) by interpolating its position embedding, as DINO does; at the trained size
the embedding is used as is. A side that is not a whole number of patches is zero-padded to one.
"""

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

import timm
import torch
from torch import nn

from selfsup.encoders import register_encoder_kind
from selfsup.errors import UnknownNameError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SMALL_IMAGE_MAX = 96  # at or below this size, ResNets drop the stride-4 stem (as for CIFAR)
SMALL_CNN_WIDTHS = (32, 64, 128, 256)  # the reference conv4's (bench/reference_simclr.py)
# What small_cnn was before it was widened: a spec that records no widths (a file from then) rebuilds at these.
SMALL_CNN_LEGACY_WIDTHS = (16, 32, 64, 128)
VIT_GRID = 8  # tokens per side a ViT aims for on small images
VIT_MAX_PATCH = 16  # ... until the patch reaches ViT's usual 16 px

ViTName = Literal["vit_tiny", "vit_small"]
# How a ViT pools its tokens into the embedding: its class token, or the mean of its patch tokens (MAE's choice:
# its objective trains the patch tokens, barely the class token).
ViTPooling = Literal["token", "avg"]
_VIT_ARCHS: dict[str, str] = {"vit_tiny": "vit_tiny_patch16_224", "vit_small": "vit_small_patch16_224"}
# Our backbone names -> the timm architectures they build: what pretrained weights may name (tiny_cnn is ours).
TIMM_ARCHITECTURES: dict[str, str] = {"resnet18": "resnet18", "resnet50": "resnet50", **_VIT_ARCHS}


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to rebuild a backbone's architecture; saved in every checkpoint."""

    name: str
    image_size: int
    small_stem: bool  # ResNets only: a stride-1 stem without max-pooling
    patch_size: int | None = None  # ViTs only
    mean: tuple[float, ...] | None = None  # the input normalization, when not ImageNet's (pretrained weights')
    std: tuple[float, ...] | None = None
    pretrained: str | None = None  # the pretrained model training started from; provenance, not architecture
    pooling: ViTPooling | None = None  # ViTs only: what forward returns; None is the class token (older files)
    widths: tuple[int, ...] | None = None  # small_cnn only: its conv widths; None is the legacy (older files)

    def to_dict(self) -> dict[str, Any]:
        """Fields that do not apply (None) are left out, so older readers and files see the same keys. There is
        no ``"kind"``: :func:`selfsup.encoders.encoder_from_spec` reads a spec without one as an image backbone,
        so files from before other modalities existed read the same."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "BackboneSpec":
        patch_size, pretrained, pooling = raw.get("patch_size"), raw.get("pretrained"), raw.get("pooling")
        widths = raw.get("widths")
        return cls(
            name=str(raw["name"]),
            image_size=int(raw["image_size"]),
            small_stem=bool(raw["small_stem"]),
            patch_size=None if patch_size is None else int(patch_size),
            mean=_floats(raw.get("mean")),
            std=_floats(raw.get("std")),
            pretrained=None if pretrained is None else str(pretrained),
            pooling=_pooling(pooling),
            widths=None if widths is None else tuple(int(width) for width in widths),
        )


def _pooling(raw: object) -> ViTPooling | None:
    if raw is None or raw in get_args(ViTPooling):
        return raw  # type: ignore[return-value]
    raise ValueError(f"unknown ViT pooling {raw!r}; known: {', '.join(get_args(ViTPooling))}")


def _floats(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(value) for value in values)


class TinyCNN(nn.Module):
    """Three stride-2 conv blocks, 128-d output: a preset that trains in seconds on a laptop CPU.

    Downsampling in the convolutions themselves (rather than convolving at full size and pooling) keeps it
    about 6x cheaper than a pooled design of the same widths, at 32 px about 2.7k samples/s per SimCLR step
    on two CPU cores.
    """

    num_features = 128

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in ((3, 32), (32, 64), (64, 128)):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out)]
            layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 128, H/8, W/8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = True) -> torch.Tensor:
        return x.mean(dim=(2, 3))  # (B, 128)


def _tiny_cnn(spec: BackboneSpec) -> nn.Module:
    return TinyCNN()


class SmallCNN(nn.Module):
    """Four conv3x3-BN-ReLU-maxpool blocks of widths 32, 64, 128, 256, 256-d output: the usual small CNN of SSL
    tutorials, as wide as lightly's reference loop's ``conv4`` (bench/reference_simclr.py).

    Convolving at full resolution before pooling keeps thin strokes that the tiny CNN's stride-2 convolutions
    skip (bench/quality_images.py compares the two and the reference on 32 px digits). Encoders saved before it
    was widened record no widths and rebuild at :data:`SMALL_CNN_LEGACY_WIDTHS` (128-d).
    """

    def __init__(self, widths: Sequence[int] = SMALL_CNN_WIDTHS) -> None:
        super().__init__()
        self.num_features = widths[-1]
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise((3, *widths)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, C, H/16, W/16)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = True) -> torch.Tensor:
        return x.mean(dim=(2, 3))  # (B, C)


def _small_cnn(spec: BackboneSpec) -> nn.Module:
    return SmallCNN(spec.widths or SMALL_CNN_LEGACY_WIDTHS)


def _timm_resnet(arch: str) -> Callable[[BackboneSpec], nn.Module]:
    def build(spec: BackboneSpec) -> nn.Module:
        model = timm.create_model(arch, pretrained=False, num_classes=0)
        if spec.small_stem:
            width: int = model.conv1.out_channels  # type: ignore[assignment,union-attr]
            model.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
            model.maxpool = nn.Identity()
        return model

    return build


def _timm_vit(arch: str) -> Callable[[BackboneSpec], nn.Module]:
    def build(spec: BackboneSpec) -> nn.Module:
        patch = spec.patch_size or vit_patch_size(spec.image_size)
        model = timm.create_model(
            arch,
            pretrained=False,
            num_classes=0,
            img_size=-(-spec.image_size // patch) * patch,  # the padded size: its grid is the one images make
            patch_size=patch,
            dynamic_img_size=True,  # local crops of another size interpolate the position embedding
            dynamic_img_pad=True,  # a side that is not a whole number of patches is zero-padded
        )
        set_vit_pooling(model, spec.pooling)
        return model

    return build


def set_vit_pooling(vit: nn.Module, pooling: ViTPooling | None) -> None:
    """Pool ``vit``'s tokens as ``pooling`` says (None: the class token). The final norm stays where it was built
    (on every token), so the weights and their names are the same whichever pooling is served."""
    vit.reset_classifier(0, pooling or "token")  # type: ignore[operator]


_BACKBONES: dict[str, Callable[[BackboneSpec], nn.Module]] = {
    "tiny_cnn": _tiny_cnn,
    "small_cnn": _small_cnn,
    "resnet18": _timm_resnet("resnet18"),
    "resnet50": _timm_resnet("resnet50"),
    **{name: _timm_vit(arch) for name, arch in _VIT_ARCHS.items()},
}


def backbone_names() -> list[str]:
    return sorted(_BACKBONES)


def is_vit(name: str) -> bool:
    """True for the Vision Transformers, whose trunk is a timm ``VisionTransformer`` (what MAE needs)."""
    return name in get_args(ViTName)


def vit_patch_size(image_size: int) -> int:
    """The patch that makes about a ``VIT_GRID`` x ``VIT_GRID`` grid, at most ``VIT_MAX_PATCH`` px."""
    return max(1, min(VIT_MAX_PATCH, image_size // VIT_GRID))


class Backbone(nn.Module):
    """A trunk plus its input normalization; ``forward`` returns the pooled embedding (B, D)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, trunk: nn.Module, spec: BackboneSpec) -> None:
        super().__init__()
        self.trunk = trunk
        self.spec = spec
        self.dim: int = getattr(trunk, "num_features")  # noqa: B009  (timm's attribute, not typed)
        mean, std = spec.mean or IMAGENET_MEAN, spec.std or IMAGENET_STD
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def pool_tokens(self, pooling: ViTPooling) -> None:
        """Serve ``pooling`` of a ViT's tokens from now on, and record it in the spec (so exports rebuild it)."""
        if not is_vit(self.spec.name):
            raise ValueError(f"only ViTs pool tokens, not {self.spec.name!r}")
        set_vit_pooling(self.trunk, pooling)
        self.spec = replace(self.spec, pooling=pooling)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> the trunk's input (standardized as its spec says, ImageNet's way by
        default)."""
        return (images - self.mean) / self.std

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> feature map (B, C, h, w), or tokens (B, 1 + h * w, D) for a ViT."""
        return self.trunk.forward_features(self.normalize(images))  # type: ignore[operator]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk.forward_head(self.forward_features(images), pre_logits=True)  # type: ignore[operator]

    def forward_crops(self, crops: list[torch.Tensor]) -> torch.Tensor:
        """V crops of (B, 3, h_v, w_v) -> (V * B, D) in crop order, one pass per run of same-size crops.

        This is the multi-crop forward of SwAV and DINO: crops of one resolution share a batch (and its
        BatchNorm statistics); crops of different resolutions cannot be stacked.
        """
        runs = itertools.groupby(crops, key=lambda crop: crop.shape[-2:])
        return torch.cat([self(torch.cat(list(run))) for _, run in runs])


def create_backbone(
    name: str, *, image_size: int, small_stem: bool | None = None, patch_size: int | None = None
) -> Backbone:
    """Build a randomly initialized backbone.

    ``small_stem`` (ResNets) defaults to on for images up to 96 px, ``patch_size`` (ViTs) to
    :func:`vit_patch_size`; each is recorded as off / None where it does not apply.
    """
    if is_vit(name):
        spec = BackboneSpec(name, image_size, small_stem=False, patch_size=patch_size or vit_patch_size(image_size))
    else:
        stem = image_size <= SMALL_IMAGE_MAX if small_stem is None else small_stem
        widths = SMALL_CNN_WIDTHS if name == "small_cnn" else None
        spec = BackboneSpec(name, image_size, small_stem=stem, widths=widths)
    return backbone_from_spec(spec)


def backbone_from_spec(spec: BackboneSpec) -> Backbone:
    """The architecture ``spec`` describes, randomly initialized (a ViT spec without a patch size, from before
    it was recorded, gets the one its image size gives; a small_cnn without widths, the legacy ones)."""
    if spec.name not in _BACKBONES:
        raise UnknownNameError("backbone", spec.name, list(_BACKBONES))
    if is_vit(spec.name) and spec.patch_size is None:
        spec = replace(spec, patch_size=vit_patch_size(spec.image_size))
    return Backbone(_BACKBONES[spec.name](spec), spec)


@register_encoder_kind("image")
def _backbone_from_dict(raw: dict[str, Any]) -> Backbone:
    return backbone_from_spec(BackboneSpec.from_dict(raw))
