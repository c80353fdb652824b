"""Backbones by name: shapes, the small-image stem, ViT patch grids and the spec that rebuilds them."""

from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch
from torch import nn

from selfsup.backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SMALL_CNN_WIDTHS,
    SMALL_IMAGE_MAX,
    BackboneSpec,
    backbone_from_spec,
    backbone_names,
    create_backbone,
    is_vit,
    vit_patch_size,
)
from selfsup.encoder import Encoder
from selfsup.errors import UnknownNameError
from selfsup.export.formats import load_safetensors, to_safetensors
from selfsup.methods import get_method
from selfsup.methods.mae import MAE
from selfsup.params import BackboneName
from selfsup.train.checkpoint import ENCODER_FORMAT, save_atomically
from selfsup.train.export import export_encoder

EXPECTED_DIM = {"tiny_cnn": 128, "small_cnn": 256, "resnet18": 512, "resnet50": 2048}
VIT_DIM = {"vit_tiny": 192, "vit_small": 384}


def test_every_known_name_is_listed() -> None:
    assert backbone_names() == sorted({**EXPECTED_DIM, **VIT_DIM})
    assert set(get_args(BackboneName)) == set(backbone_names())  # what params accept is what can be built
    assert [is_vit(name) for name in backbone_names()] == [name in VIT_DIM for name in backbone_names()]


@pytest.mark.parametrize("name", sorted(EXPECTED_DIM))
def test_each_backbone_builds_and_has_the_right_shapes(name: str) -> None:
    torch.manual_seed(0)
    backbone = create_backbone(name, image_size=32).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        pooled = backbone(images)
        features = backbone.forward_features(images)
    assert backbone.dim == EXPECTED_DIM[name]
    assert pooled.shape == (2, EXPECTED_DIM[name])
    assert pooled.dtype == torch.float32 and torch.isfinite(pooled).all()
    assert features.ndim == 4 and features.shape[:2] == (2, EXPECTED_DIM[name])
    torch.testing.assert_close(pooled, features.mean(dim=(2, 3)))  # the embedding is the pooled map


def test_small_stem_switches_on_at_small_sizes() -> None:
    assert SMALL_IMAGE_MAX == 96
    small = create_backbone("resnet18", image_size=96)
    large = create_backbone("resnet18", image_size=97)
    assert small.spec.small_stem and not large.spec.small_stem
    assert small.trunk.conv1.stride == (1, 1) and isinstance(small.trunk.maxpool, nn.Identity)
    assert large.trunk.conv1.stride == (2, 2) and not isinstance(large.trunk.maxpool, nn.Identity)
    with torch.no_grad():  # a small stem keeps 4x more resolution: total stride 8 instead of 32
        assert small.eval().forward_features(torch.rand(1, 3, 64, 64)).shape[-1] == 8
        assert large.eval().forward_features(torch.rand(1, 3, 64, 64)).shape[-1] == 2


def test_explicit_small_stem_wins_over_the_default() -> None:
    assert not create_backbone("resnet18", image_size=32, small_stem=False).spec.small_stem
    assert create_backbone("resnet18", image_size=224, small_stem=True).spec.small_stem


def test_unknown_backbone_raises_a_typed_error() -> None:
    with pytest.raises(UnknownNameError) as caught:
        create_backbone("vgg16", image_size=32)
    assert caught.value.kind == "backbone" and "tiny_cnn" in caught.value.known


def test_spec_rebuilds_the_same_architecture() -> None:
    backbone = create_backbone("resnet18", image_size=48)
    spec = BackboneSpec.from_dict(backbone.spec.to_dict())
    assert spec == backbone.spec == BackboneSpec("resnet18", 48, True)
    rebuilt = backbone_from_spec(spec)
    original = {k: v.shape for k, v in backbone.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == original
    rebuilt.load_state_dict(backbone.state_dict())  # strict: same keys, same shapes


def test_small_cnn_is_as_wide_as_the_reference_conv4_and_records_it() -> None:
    backbone = create_backbone("small_cnn", image_size=32)
    assert SMALL_CNN_WIDTHS == (32, 64, 128, 256) and backbone.spec.widths == SMALL_CNN_WIDTHS
    raw = backbone.spec.to_dict()
    assert raw["widths"] == (32, 64, 128, 256)
    rebuilt = backbone_from_spec(BackboneSpec.from_dict({**raw, "widths": [32, 64, 128, 256]}))  # as JSON reads
    assert rebuilt.spec == backbone.spec and rebuilt.dim == 256
    rebuilt.load_state_dict(backbone.state_dict())  # strict: same keys, same shapes


def _small_cnn_before_widening() -> nn.Sequential:
    """small_cnn's trunk as the files written before it was widened hold it: 16-128 wide, 128-d."""
    layers: list[nn.Module] = []
    for c_in, c_out in ((3, 16), (16, 32), (32, 64), (64, 128)):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


def test_a_small_cnn_saved_before_it_was_widened_still_loads_and_serves(tmp_path: Path, digits16: np.ndarray) -> None:
    torch.manual_seed(0)
    old = _small_cnn_before_widening()
    with torch.no_grad():
        old(torch.randn(64, 3, 16, 16))  # running statistics that are not the init's, so they must load too
    payload = {
        "format": ENCODER_FORMAT,
        "modality": "image",
        "method": "simclr",
        "backbone": {"name": "small_cnn", "image_size": 16, "small_stem": True},  # no widths: written before
        "dim": 128,
        "state_dict": {f"trunk.features.{key}": value for key, value in old.state_dict().items()},
        "assets": {},
    }
    save_atomically(payload, tmp_path / "encoder.pt")
    encoder = Encoder.load(tmp_path / "encoder.pt")
    assert encoder.dim == 128 and encoder.backbone.spec.widths is None
    images = torch.tensor(digits16[:5]).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(old.eval()((images - mean) / std).mean(dim=(2, 3)), dim=1)
    np.testing.assert_allclose(encoder.embed(digits16[:5]), expected.numpy(), rtol=1e-5, atol=1e-6)
    again = load_safetensors(to_safetensors(encoder, tmp_path / "safetensors"))  # and exports keep the old width
    np.testing.assert_allclose(again.embed(digits16[:5]), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_backbone_normalizes_its_input_itself() -> None:
    backbone = create_backbone("tiny_cnn", image_size=16).eval()
    images = torch.rand(2, 3, 16, 16)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = backbone.trunk.get_submodule("features")((images - mean) / std)
        torch.testing.assert_close(backbone.forward_features(images), expected)
    assert "mean" not in backbone.state_dict()  # constants, not weights: never saved or loaded


@pytest.mark.parametrize(
    ("image_size", "patch_size"), [(8, 1), (16, 2), (32, 4), (64, 8), (96, 12), (128, 16), (224, 16)]
)
def test_vit_patch_makes_an_8x8_grid_on_small_images(image_size: int, patch_size: int) -> None:
    assert vit_patch_size(image_size) == patch_size


@pytest.mark.parametrize(("name", "image_size"), [("vit_tiny", 32), ("vit_small", 16)])
def test_each_vit_builds_and_has_the_right_shapes(name: str, image_size: int) -> None:
    torch.manual_seed(0)
    backbone = create_backbone(name, image_size=image_size).eval()
    assert backbone.spec == BackboneSpec(name, image_size, small_stem=False, patch_size=image_size // 8)
    images = torch.rand(2, 3, image_size, image_size)
    with torch.no_grad():
        pooled = backbone(images)
        tokens = backbone.forward_features(images)
        local = backbone(torch.rand(2, 3, image_size // 2, image_size // 2))  # a smaller crop: 4 x 4 patches
    assert backbone.dim == VIT_DIM[name]
    assert tokens.shape == (2, 1 + 8 * 8, VIT_DIM[name])  # class token + an 8 x 8 grid
    assert pooled.shape == local.shape == (2, VIT_DIM[name]) and torch.isfinite(pooled).all()
    torch.testing.assert_close(pooled, tokens[:, 0])  # the embedding is the class token


def test_vit_pads_a_side_that_is_not_a_whole_number_of_patches() -> None:
    backbone = create_backbone("vit_tiny", image_size=100).eval()  # 12 px patches: 100 px is 8.33 of them
    assert backbone.spec.patch_size == 12
    with torch.no_grad():
        assert backbone.forward_features(torch.rand(1, 3, 100, 100)).shape == (1, 1 + 9 * 9, 192)


def test_vit_spec_round_trips_and_rebuilds_the_same_architecture() -> None:
    backbone = create_backbone("vit_tiny", image_size=64, patch_size=16)  # an explicit patch wins
    raw = backbone.spec.to_dict()
    assert raw == {"name": "vit_tiny", "image_size": 64, "small_stem": False, "patch_size": 16}
    rebuilt = backbone_from_spec(BackboneSpec.from_dict(raw))
    assert rebuilt.spec == backbone.spec
    rebuilt.load_state_dict(backbone.state_dict())  # strict: same keys, same shapes
    assert rebuilt.trunk.pos_embed.shape == (1, 1 + 4 * 4, 192)


def test_specs_without_a_patch_size_still_read() -> None:
    old = {"name": "tiny_cnn", "image_size": 16, "small_stem": True}  # a file written before ViTs existed
    spec = BackboneSpec.from_dict(old)
    assert spec == BackboneSpec("tiny_cnn", 16, True) and spec.patch_size is None
    assert spec.to_dict() == old  # and CNN specs are written exactly as before


def test_encoder_loads_an_exported_vit(tmp_path: Path, digits16: np.ndarray) -> None:
    torch.manual_seed(0)
    method = MAE(get_method("mae").validate({"backbone": "vit_tiny"}), create_backbone("vit_tiny", image_size=16))
    path = export_encoder(method, "mae", tmp_path / "encoder.pt")
    encoder = Encoder.load(path)
    assert (encoder.dim, encoder.image_size, encoder.method) == (192, 16, "mae")
    assert encoder.backbone.spec == method.backbone.spec
    with torch.no_grad():
        images = torch.tensor(digits16[:5]).permute(0, 3, 1, 2).float() / 255
        expected = torch.nn.functional.normalize(method.backbone.eval()(images), dim=1).numpy()
    np.testing.assert_allclose(encoder.embed(digits16[:5]), expected, rtol=1e-5, atol=1e-6)
