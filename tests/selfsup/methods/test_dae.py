"""Denoising autoencoder: corruption, the shared decoder's shapes, the loss, and a short run on real digits."""

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.dae import DAE, DAEParams, corrupt
from selfsup.methods.decoders import ConvDecoder, stage_sides
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder


def test_dae_is_registered_as_generative_with_typed_params() -> None:
    spec = get_method("dae")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "generative",
        ("image",),
        DAEParams,
        DAE,
    )
    assert spec.validate({}) == DAEParams()


@pytest.mark.parametrize(
    ("field", "value"), [("noise_std", -0.1), ("mask_ratio", 1.0), ("reconstruction", "l1"), ("decoder_width", 8)]
)
def test_bad_params_raise_a_param_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("dae").validate({field: value})
    assert [issue.loc for issue in caught.value.issues] == [("params", field)]


@pytest.mark.parametrize("size", [16, 24, 32, 64])
def test_decoder_outputs_exactly_the_image_size(size: int) -> None:
    decoder = ConvDecoder(40, size, width=32)
    assert decoder(torch.randn(2, 40)).shape == (2, 3, size, size)


def test_decoder_stages_double_up_to_any_size() -> None:
    assert stage_sides(16) == [4, 8, 16]
    assert stage_sides(24) == [3, 6, 12, 24]
    assert stage_sides(100) == [4, 7, 13, 25, 50, 100]
    assert stage_sides(1024) == [4 * 2**i for i in range(9)]


def test_corruption_masks_the_asked_fraction_of_pixels_and_adds_noise() -> None:
    torch.manual_seed(0)
    images = torch.full((8, 3, 32, 32), 0.5)
    masked = corrupt(images, noise_std=0.0, mask_ratio=0.3)
    zero_pixels = (masked == 0).all(dim=1)  # (B, H, W): a masked pixel loses all three channels
    assert (masked == 0).sum() == 3 * zero_pixels.sum()
    assert abs(zero_pixels.float().mean().item() - 0.3) < 0.03
    noisy = corrupt(images, noise_std=0.1, mask_ratio=0.0)
    assert abs((noisy - images).std().item() - 0.1) < 0.01 and noisy.min() >= 0 and noisy.max() <= 1
    assert torch.equal(corrupt(images, noise_std=0.0, mask_ratio=0.0), images)


def test_training_loss_reconstructs_the_clean_view_from_the_corrupted_one() -> None:
    torch.manual_seed(0)
    params = get_method("dae").validate({"backbone": "tiny_cnn", "decoder_width": 32})
    method = DAE(params, create_backbone("tiny_cnn", image_size=16)).eval()
    clean, corrupted = method.make_views(torch.rand(4, 3, 20, 20))
    assert clean.shape == corrupted.shape == (4, 3, 16, 16) and not torch.equal(clean, corrupted)
    loss = method.training_loss([clean, corrupted])
    with torch.no_grad():
        decoded = torch.sigmoid(method.decoder(method.backbone(corrupted)))
    torch.testing.assert_close(loss.detach(), ((decoded - clean) ** 2).mean())
    assert method.embedding_head() is None
    loss.backward()
    assert all(p.grad is not None for p in method.backbone.parameters())


def test_a_few_epochs_on_digits_lower_the_loss(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("dae").validate(
        {"backbone": "tiny_cnn", "epochs": 4, "batch_size": 64, "warmup_epochs": 0, "decoder_width": 32}
    )
    hooks = LossRecorder()
    result = Trainer("dae", params, digits16[:256], workdir=tmp_path, hooks=hooks).fit()
    assert result.status == "completed" and len(hooks.epoch_losses) == 4
    assert hooks.epoch_losses[-1] < 0.9 * hooks.epoch_losses[0], hooks.epoch_losses
