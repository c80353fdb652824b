"""VICReg: invariance, variance and covariance terms checked by hand, float32 under autocast, and a short run that
learns on real digits."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.vicreg import VICReg, VICRegParams
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

SMALL = {"backbone": "tiny_cnn", "projection_dim": 16, "hidden_dim": 32}
EPS = 1e-4  # inside the square root of the variance term, as in the authors' code


def invariance(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """s(Z, Z') = (1 / n) sum_b ||z_b - z'_b||^2, further divided by d as in the authors' code (an MSE)."""
    n, d = z_a.shape
    return torch.stack([((z_a[b] - z_b[b]) ** 2).sum() for b in range(n)]).sum() / (n * d)


def variance(z: torch.Tensor) -> torch.Tensor:
    """v(Z) = (1 / d) sum_j max(0, 1 - sqrt(Var(z^j) + eps)), Var the unbiased variance over the batch (eq. 1)."""
    n, d = z.shape
    total = torch.zeros((), dtype=z.dtype)
    for j in range(d):
        column = z[:, j]
        var = ((column - column.mean()) ** 2).sum() / (n - 1)
        total = total + torch.clamp(1 - torch.sqrt(var + EPS), min=0)
    return total / d


def covariance(z: torch.Tensor) -> torch.Tensor:
    """c(Z) = (1 / d) sum_{i != j} C(Z)_ij^2, C(Z) = (1 / (n - 1)) sum_b (z_b - mean)(z_b - mean)^T (eq. 3-4)."""
    n, d = z.shape
    centred = z - z.mean(0)
    total = torch.zeros((), dtype=z.dtype)
    for i in range(d):
        for j in range(d):
            if i != j:
                total = total + ((centred[:, i] * centred[:, j]).sum() / (n - 1)) ** 2
    return total / d


def vicreg_reference(z_a: torch.Tensor, z_b: torch.Tensor, lam: float, mu: float, nu: float) -> torch.Tensor:
    """lambda s + mu (v(Z) + v(Z')) / 2 + nu (c(Z) + c(Z')) (eq. 6; the halved variance term is the authors'
    code, which the paper's defaults were tuned with)."""
    var = (variance(z_a) + variance(z_b)) / 2
    return lam * invariance(z_a, z_b) + mu * var + nu * (covariance(z_a) + covariance(z_b))


def _method(**overrides: Any) -> VICReg:
    params = get_method("vicreg").validate({**SMALL, **overrides})
    return VICReg(params, create_backbone("tiny_cnn", image_size=16))


@pytest.mark.parametrize(
    "weights",
    [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (25.0, 25.0, 1.0), (5.0, 10.0, 0.5)],
    ids=["invariance", "variance", "covariance", "defaults", "mixed"],
)
def test_criterion_matches_the_three_terms(weights: tuple[float, float, float]) -> None:
    torch.manual_seed(0)
    z_a = 0.6 * torch.randn(32, 10, dtype=torch.float64)  # std below 1: the variance hinge is active
    z_b = z_a + 0.3 * torch.randn(32, 10, dtype=torch.float64)
    z_b[:, 0] = z_b[:, 1] + 0.1 * torch.randn(32, dtype=torch.float64)  # a correlated pair for the covariance term
    lam, mu, nu = weights
    method = _method(invariance_weight=lam, variance_weight=mu, covariance_weight=nu)
    expected = vicreg_reference(z_a, z_b, lam, mu, nu)
    assert expected > 0
    torch.testing.assert_close(method.criterion(z_a, z_b), expected, rtol=1e-10, atol=1e-10)


def test_training_loss_is_the_formula_on_the_projected_views() -> None:
    torch.manual_seed(0)
    method = _method().eval()
    views = [torch.rand(16, 3, 16, 16), torch.rand(16, 3, 16, 16)]
    loss = method.training_loss(views)
    with torch.no_grad():
        z0, z1 = (method.projection(method.backbone(v)).double() for v in views)
    torch.testing.assert_close(loss.detach().double(), vicreg_reference(z0, z1, 25, 25, 1), rtol=1e-5, atol=1e-5)
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
    spec = get_method("vicreg")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "contrastive",
        ("image",),
        VICRegParams,
        VICReg,
    )
    params = spec.validate({})
    assert (params.invariance_weight, params.variance_weight, params.covariance_weight) == (25.0, 25.0, 1.0)
    assert (params.projection_dim, params.min_scale) == (2048, 0.08)


@pytest.mark.parametrize(
    ("field", "value"),
    [("invariance_weight", -1), ("variance_weight", 1001), ("covariance_weight", "much"), ("mu", 25)],
)
def test_bad_params_are_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("vicreg").validate({field: value})
    assert {issue.loc for issue in caught.value.issues} == {("params", field)}


def test_a_few_epochs_on_digits_lower_the_loss(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("vicreg").validate(
        {
            **SMALL,
            "projection_dim": 256,
            "hidden_dim": 256,
            "min_scale": 0.3,
            "epochs": 4,
            "batch_size": 64,
            "lr": 5e-3,
            "warmup_epochs": 0,
        }
    )
    hooks = LossRecorder()
    Trainer("vicreg", params, digits16[:256], workdir=tmp_path, hooks=hooks).fit()
    assert len(hooks.losses) == 16 and all(np.isfinite(hooks.losses))
    first, last = np.mean(hooks.losses[:4]), np.mean(hooks.losses[12:])
    # Mostly the variance hinge at first (about 22 of 25 at mu = 25): the outputs' spread grows slowly with AdamW.
    assert last < first - 0.5, hooks.losses
