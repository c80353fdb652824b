"""Backbones by name: shapes, the small-image stem and the spec that rebuilds them."""

import pytest
import torch
from torch import nn

from selfsup.backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SMALL_IMAGE_MAX,
    BackboneSpec,
    backbone_from_spec,
    backbone_names,
    create_backbone,
)
from selfsup.errors import UnknownNameError

EXPECTED_DIM = {"tiny_cnn": 128, "resnet18": 512, "resnet50": 2048}


def test_every_known_name_is_listed() -> None:
    assert backbone_names() == sorted(EXPECTED_DIM)


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


def test_backbone_normalizes_its_input_itself() -> None:
    backbone = create_backbone("tiny_cnn", image_size=16).eval()
    images = torch.rand(2, 3, 16, 16)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = backbone.trunk.get_submodule("features")((images - mean) / std)
        torch.testing.assert_close(backbone.forward_features(images), expected)
    assert "mean" not in backbone.state_dict()  # constants, not weights: never saved or loaded
