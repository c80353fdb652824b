"""SimSiam: the symmetric negative-cosine loss and its stop-gradient checked by hand, and a short run that learns
on real digits."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.simsiam import SimSiam, SimSiamParams
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

SMALL = {"backbone": "tiny_cnn", "projection_dim": 16, "hidden_dim": 32, "prediction_hidden_dim": 8}


def simsiam_reference(p0: torch.Tensor, p1: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """L = D(p1, z2) / 2 + D(p2, z1) / 2 with D(p, z) = -<p / |p|, z / |z|> (SimSiam, eq. 3-4), batch mean."""

    def d(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -torch.stack([(a @ b) / (a.norm() * b.norm()) for a, b in zip(p, z, strict=True)]).mean()

    return d(p0, z1) / 2 + d(p1, z0) / 2


def _method(**overrides: Any) -> SimSiam:
    params = get_method("simsiam").validate({**SMALL, **overrides})
    return SimSiam(params, create_backbone("tiny_cnn", image_size=16))


def _grads(method: SimSiam, loss: torch.Tensor) -> list[torch.Tensor]:
    method.zero_grad(set_to_none=False)
    loss.backward()
    return [p.grad.clone() for p in method.parameters() if p.grad is not None]


def test_criterion_is_the_negative_cosine() -> None:
    torch.manual_seed(0)
    p, z = torch.randn(8, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
    torch.testing.assert_close(_method().criterion(p, z), simsiam_reference(p, p, z, z), rtol=1e-10, atol=1e-10)


def test_training_loss_and_its_gradient_follow_the_stop_gradient() -> None:
    torch.manual_seed(0)
    method = _method().eval()
    views = [torch.rand(6, 3, 16, 16), torch.rand(6, 3, 16, 16)]
    loss = method.training_loss(views)
    method_grads = _grads(method, loss)

    z0, z1 = (method.projection(method.backbone(v)) for v in views)
    p0, p1 = method.prediction(z0), method.prediction(z1)
    stopped = simsiam_reference(p0, p1, z0.detach(), z1.detach())
    torch.testing.assert_close(loss.detach(), stopped.detach(), rtol=1e-5, atol=1e-6)
    for actual, expected in zip(method_grads, _grads(method, stopped), strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-6)

    z0, z1 = (method.projection(method.backbone(v)) for v in views)
    unstopped = simsiam_reference(method.prediction(z0), method.prediction(z1), z0, z1)
    assert any(  # without the stop-gradient the gradient differs, so the check above has teeth
        not torch.allclose(a, b, rtol=1e-3, atol=1e-5)
        for a, b in zip(method_grads, _grads(method, unstopped), strict=True)
    )


def test_registered_as_contrastive_for_images_with_paper_defaults() -> None:
    spec = get_method("simsiam")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "contrastive",
        ("image",),
        SimSiamParams,
        SimSiam,
    )
    params = spec.validate({})
    assert (params.projection_dim, params.hidden_dim, params.prediction_hidden_dim) == (2048, 2048, 512)
    assert params.min_scale == 0.2


@pytest.mark.parametrize(
    ("field", "value"), [("projection_dim", 7), ("prediction_hidden_dim", 9000), ("min_scale", 0), ("stopgrad", 1)]
)
def test_bad_params_are_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("simsiam").validate({field: value})
    assert {issue.loc for issue in caught.value.issues} == {("params", field)}


def test_a_few_epochs_on_digits_lower_the_loss(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("simsiam").validate(
        {
            **SMALL,
            "projection_dim": 256,
            "hidden_dim": 256,
            "prediction_hidden_dim": 64,
            "epochs": 4,
            "batch_size": 64,
            "lr": 2e-2,
            "warmup_epochs": 0,
        }
    )
    hooks = LossRecorder()
    Trainer("simsiam", params, digits16[:256], workdir=tmp_path, hooks=hooks).fit()
    assert len(hooks.losses) == 16 and all(np.isfinite(hooks.losses))
    first, last = np.mean(hooks.losses[:4]), np.mean(hooks.losses[12:])
    assert last < first - 0.1, hooks.losses  # the loss lies in [-1, 1] and starts near 0
