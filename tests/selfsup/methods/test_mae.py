"""MAE: ViT-only params, exact masking, the masked-patch MSE against its formula, and a short run on digits."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.encoder import Encoder
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.mae import MAE
from selfsup.train.export import export_encoder
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

SIZE = 16  # 2 px patches, an 8 x 8 grid


def make_mae(**params: object) -> MAE:
    torch.manual_seed(0)
    resolved = get_method("mae").validate({"backbone": "vit_tiny", **params})
    return MAE(resolved, create_backbone("vit_tiny", image_size=SIZE))


def patches_reference(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, S, S) -> (B, N, patch * patch * C): patches row by row, each flattened as (row, column, channel)."""
    batch, channels, size, _ = images.shape
    grid = size // patch
    out = torch.empty(batch, grid * grid, patch * patch * channels, dtype=images.dtype)
    for row in range(grid):
        for col in range(grid):
            block = images[:, :, row * patch : (row + 1) * patch, col * patch : (col + 1) * patch]
            out[:, row * grid + col] = block.permute(0, 2, 3, 1).reshape(batch, -1)
    return out


def mae_loss_reference(
    prediction: torch.Tensor, images: torch.Tensor, masked: torch.Tensor, patch: int, norm_pix: bool
) -> torch.Tensor:
    """He et al. (2022), sec. 3: the mean squared error between predicted and true pixels, computed only on
    the masked patches; with ``norm_pix`` each target patch is standardized by its own mean and variance.

    ``prediction`` (B, N, D) for every patch, ``masked`` (B, N) booleans.
    """
    target = patches_reference(images, patch)
    if norm_pix:
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    per_patch = ((prediction - target) ** 2).mean(-1)  # (B, N)
    return per_patch[masked].mean()


def test_params_accept_only_vits() -> None:
    assert get_method("mae").family == "masked"
    assert get_method("mae").validate({}).backbone == "vit_tiny"
    assert get_method("mae").validate({"backbone": "vit_small"}).backbone == "vit_small"
    with pytest.raises(ParamError) as caught:
        get_method("mae").validate({"backbone": "tiny_cnn"})
    assert [issue.loc for issue in caught.value.issues] == [("params", "backbone")]
    with pytest.raises(ValueError, match="ViT"):
        MAE(get_method("mae").validate({}), create_backbone("tiny_cnn", image_size=SIZE))


def test_decoder_width_must_split_into_heads() -> None:
    with pytest.raises(ParamError, match="multiple of decoder_heads"):
        get_method("mae").validate({"decoder_dim": 100, "decoder_heads": 3})


@pytest.mark.parametrize("ratio", [0.1, 0.6, 0.75, 0.9])
def test_masks_exactly_round_ratio_times_the_patches(ratio: float) -> None:
    method = make_mae(mask_ratio=ratio)
    num_patches = 64
    idx_keep, idx_mask = method.random_mask(5, torch.device("cpu"))
    masked = round(ratio * num_patches)
    assert idx_mask.shape == (5, masked) and idx_keep.shape == (5, 1 + num_patches - masked)
    assert (idx_keep[:, 0] == 0).all()  # the class token is always kept
    for keep, mask in zip(idx_keep.tolist(), idx_mask.tolist(), strict=True):
        assert sorted(keep[1:] + mask) == list(range(1, num_patches + 1))  # a partition of the patch tokens
    assert len({tuple(sorted(row)) for row in idx_mask.tolist()}) > 1  # a fresh draw per image


@pytest.mark.parametrize("norm_pix", [True, False])
def test_loss_is_the_mse_on_masked_patches_only(norm_pix: bool) -> None:
    method = make_mae(norm_pix_loss=norm_pix)
    images = method.backbone.normalize(torch.rand(4, 3, SIZE, SIZE))
    idx_keep, idx_mask = method.random_mask(4, torch.device("cpu"))
    masked = torch.zeros(4, 64, dtype=torch.bool)
    masked[torch.arange(4).unsqueeze(1), idx_mask - 1] = True  # token i is patch i - 1
    with torch.no_grad():
        loss = method.masked_loss(images, idx_keep, idx_mask)
        prediction = method.decoder_pred(method.decode(images, idx_keep))[:, 1:]  # (B, N, 12), every patch
    expected = mae_loss_reference(prediction, images, masked, patch=2, norm_pix=norm_pix)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    everywhere = mae_loss_reference(prediction, images, torch.ones_like(masked), patch=2, norm_pix=norm_pix)
    assert not torch.isclose(loss, everywhere)  # the comparison above can tell masked from all patches


def test_training_loss_masks_a_fresh_draw_of_the_standardized_view() -> None:
    method = make_mae()
    view = torch.rand(3, 3, SIZE, SIZE)
    torch.manual_seed(7)
    loss = method.training_loss([view])
    torch.manual_seed(7)
    idx_keep, idx_mask = method.random_mask(3, torch.device("cpu"))
    with torch.no_grad():
        expected = method.masked_loss(method.backbone.normalize(view), idx_keep, idx_mask)
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert method.backbone.trunk.get_parameter("blocks.0.attn.qkv.weight").grad is not None  # the served encoder learns


def test_make_views_gives_one_augmented_view(digits16: np.ndarray) -> None:
    method = make_mae()
    images = torch.tensor(digits16[:4]).permute(0, 3, 1, 2).float() / 255
    views = method.make_views(images)
    assert len(views) == 1 and views[0].shape == images.shape and not torch.equal(views[0], images)


def test_a_few_epochs_on_digits_lower_the_loss(digits: np.ndarray, tmp_path: Path) -> None:
    params = get_method("mae").validate(
        {"backbone": "vit_tiny", "epochs": 3, "batch_size": 16, "lr": 1e-3, "warmup_epochs": 0, "seed": 0}
    )
    hooks = LossRecorder()
    result = Trainer("mae", params, digits[:48], workdir=tmp_path, hooks=hooks).fit()
    assert result.status == "completed" and result.progress.step == 9
    assert len(hooks.epoch_losses) == 3 and all(np.isfinite(hooks.epoch_losses))
    assert hooks.epoch_losses[-1] < 0.85 * hooks.epoch_losses[0], hooks.epoch_losses  # about 1.06 -> 0.75


def _as_floats(canonical: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) floats in [0, 1], as serving prepares them."""
    return torch.from_numpy(canonical).permute(0, 3, 1, 2).float() / 255


def test_serves_the_mean_of_the_patch_tokens_and_exports_say_so(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("mae").validate({"epochs": 1, "batch_size": 32})
    trainer = Trainer("mae", params, digits16[:32], workdir=tmp_path, probe_size=0)
    model = trainer.model.eval()
    canonical = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    with torch.no_grad():
        tokens = model.backbone.forward_features(_as_floats(canonical))  # (B, 1 + N, D), the class token first
        torch.testing.assert_close(model.embed(_as_floats(canonical)), tokens[:, 1:].mean(dim=1))
    assert model.backbone.spec.pooling == "avg"
    exported = Encoder.load(trainer.export_encoder(tmp_path / "encoder.pt"))
    np.testing.assert_allclose(exported.embed(canonical), F.normalize(tokens[:, 1:].mean(dim=1)).numpy(), atol=1e-5)


def test_an_export_from_before_the_pooling_was_recorded_serves_its_class_token(tmp_path: Path) -> None:
    model = make_mae().eval()
    path = export_encoder(model, "mae", tmp_path / "old.pt")
    payload = torch.load(path, weights_only=False)
    del payload["backbone"]["pooling"]  # as MAE exports were written before
    torch.save(payload, path)
    canonical = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    with torch.no_grad():
        tokens = model.backbone.forward_features(_as_floats(canonical))
    np.testing.assert_allclose(Encoder.load(path).embed(canonical), F.normalize(tokens[:, 0]).numpy(), atol=1e-5)
