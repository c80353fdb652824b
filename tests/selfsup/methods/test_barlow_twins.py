"""Barlow Twins: the cross-correlation loss checked by hand, float32 under autocast, and a short run that learns
on real digits."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.barlow_twins import BarlowTwins, BarlowTwinsParams
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

SMALL = {"backbone": "tiny_cnn", "projection_dim": 16, "hidden_dim": 32}
BN_EPS = 1e-5


def barlow_twins_reference(z_a: torch.Tensor, z_b: torch.Tensor, weight: float) -> torch.Tensor:
    """sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2 (Zbontar et al., 2021, eq. 1-2).

    C_ij = sum_b za_bi zb_bj / N for projections standardized per dimension over the batch, as the authors'
    BatchNorm does it: the population variance, plus 1e-5.
    """
    n, d = z_a.shape
    a = (z_a - z_a.mean(0)) / (z_a.var(0, unbiased=False) + BN_EPS).sqrt()
    b = (z_b - z_b.mean(0)) / (z_b.var(0, unbiased=False) + BN_EPS).sqrt()
    loss = torch.zeros((), dtype=z_a.dtype)
    for i in range(d):
        for j in range(d):
            c = (a[:, i] * b[:, j]).sum() / n
            loss = loss + ((1 - c) ** 2 if i == j else weight * c**2)
    return loss


def _method(**overrides: Any) -> BarlowTwins:
    params = get_method("barlow_twins").validate({**SMALL, **overrides})
    return BarlowTwins(params, create_backbone("tiny_cnn", image_size=16))


@pytest.mark.parametrize("weight", [0.005, 0.1, 1.0])
def test_criterion_matches_the_cross_correlation_formula(weight: float) -> None:
    torch.manual_seed(0)
    z_a = torch.randn(32, 12, dtype=torch.float64)
    z_b = z_a + 0.5 * torch.randn(32, 12, dtype=torch.float64)
    loss = _method(redundancy_weight=weight).criterion(z_a, z_b)
    torch.testing.assert_close(loss, barlow_twins_reference(z_a, z_b, weight), rtol=1e-10, atol=1e-10)
    assert barlow_twins_reference(z_a, z_a, weight) < barlow_twins_reference(z_a, z_b, weight)


def test_training_loss_is_the_formula_on_the_projected_views() -> None:
    torch.manual_seed(0)
    method = _method().eval()
    views = [torch.rand(16, 3, 16, 16), torch.rand(16, 3, 16, 16)]
    loss = method.training_loss(views)
    with torch.no_grad():
        z0, z1 = (method.projection(method.backbone(v)).double() for v in views)
    torch.testing.assert_close(loss.detach().double(), barlow_twins_reference(z0, z1, 0.005), rtol=1e-5, atol=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_loss_is_taken_in_float32_under_autocast() -> None:
    torch.manual_seed(0)
    method = _method().eval()
    views = [torch.rand(16, 3, 16, 16), torch.rand(16, 3, 16, 16)]
    with torch.no_grad():
        full = method.training_loss(views)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = method.training_loss(views)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, full, rtol=0.02, atol=0)  # only the network ran in bfloat16


def test_registered_as_contrastive_for_images_with_paper_defaults() -> None:
    spec = get_method("barlow_twins")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "contrastive",
        ("image",),
        BarlowTwinsParams,
        BarlowTwins,
    )
    params = spec.validate({})
    assert (params.redundancy_weight, params.projection_dim, params.hidden_dim) == (0.005, 2048, 2048)
    assert params.min_scale == 0.08


@pytest.mark.parametrize(
    ("field", "value"),
    [("redundancy_weight", 0), ("redundancy_weight", 2), ("projection_dim", 10_000), ("lambda_param", 0.1)],
)
def test_bad_params_are_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("barlow_twins").validate({field: value})
    assert {issue.loc for issue in caught.value.issues} == {("params", field)}


def test_a_few_epochs_on_digits_lower_the_loss(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("barlow_twins").validate(
        {
            **SMALL,
            "projection_dim": 256,
            "hidden_dim": 256,
            "min_scale": 0.3,
            "epochs": 4,
            "batch_size": 64,
            "lr": 2e-3,
            "warmup_epochs": 0,
        }
    )
    hooks = LossRecorder()
    Trainer("barlow_twins", params, digits16[:256], workdir=tmp_path, hooks=hooks).fit()
    assert len(hooks.losses) == 16 and all(np.isfinite(hooks.losses))
    first, last = np.mean(hooks.losses[:4]), np.mean(hooks.losses[12:])
    assert last < 0.8 * first, hooks.losses
