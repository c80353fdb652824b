"""BYOL: the symmetric negative-cosine loss against the target checked by hand, the EMA target, the asymmetric
views, and a short run that learns on real digits."""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.byol import BYOL, BYOLParams
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

SMALL = {"backbone": "tiny_cnn", "projection_dim": 16, "hidden_dim": 32, "prediction_hidden_dim": 32}


def negative_cosine_reference(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """-<p_i / |p_i|, z_i / |z_i|> averaged over the batch (BYOL, eq. 2, up to the affine map 2 - 2 cos)."""
    return -torch.stack([(a @ b) / (a.norm() * b.norm()) for a, b in zip(p, z, strict=True)]).mean()


def _method(**overrides: Any) -> BYOL:
    params = get_method("byol").validate({**SMALL, **overrides})
    return BYOL(params, create_backbone("tiny_cnn", image_size=16))


def test_criterion_is_the_negative_cosine() -> None:
    torch.manual_seed(0)
    p, z = torch.randn(8, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
    method = _method()
    torch.testing.assert_close(method.criterion(p, z), negative_cosine_reference(p, z), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(method.criterion(p, 3 * p), torch.tensor(-1.0, dtype=torch.float64))


def test_training_loss_predicts_the_target_projection_of_the_other_view() -> None:
    torch.manual_seed(0)
    method = _method().eval()
    with torch.no_grad():  # make the target differ from the online network, as it will during training
        for param in [*method.target_backbone.parameters(), *method.target_projection.parameters()]:
            param.add_(0.1 * torch.randn_like(param))
    views = [torch.rand(6, 3, 16, 16), torch.rand(6, 3, 16, 16)]
    loss = method.training_loss(views)
    with torch.no_grad():
        p0, p1 = (method.prediction(method.projection(method.backbone(v))) for v in views)
        z0, z1 = (method.target_projection(method.target_backbone(v)) for v in views)
    expected = (negative_cosine_reference(p0, z1) + negative_cosine_reference(p1, z0)) / 2
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    loss.backward()
    online = [*method.backbone.parameters(), *method.projection.parameters(), *method.prediction.parameters()]
    assert all(p.grad is not None for p in online)
    assert all(p.grad is None for p in [*method.target_backbone.parameters(), *method.target_projection.parameters()])


def test_views_are_asymmetric_as_in_byol() -> None:
    method = _method()
    first, second = method.first_view.recipe, method.second_view.recipe
    assert (first.blur_prob, first.solarize_prob) == (1.0, 0.0)
    assert (second.blur_prob, second.solarize_prob) == (0.1, 0.2)
    assert first.min_scale == second.min_scale == 0.08


def _pairs(method: BYOL) -> list[tuple[torch.nn.Parameter, torch.nn.Parameter]]:
    """(online, target) parameters, matched by name."""
    online = [*method.backbone.named_parameters(), *method.projection.named_parameters()]
    target = [*method.target_backbone.named_parameters(), *method.target_projection.named_parameters()]
    assert [name for name, _ in online] == [name for name, _ in target]
    return [(o, t) for (_, o), (_, t) in zip(online, target, strict=True)]


def test_one_step_moves_the_target_by_exactly_the_momentum(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("byol").validate({**SMALL, "epochs": 2, "batch_size": 32, "warmup_epochs": 0})
    trainer = Trainer("byol", params, digits16[:64], workdir=tmp_path)
    method = trainer.model
    assert isinstance(method, BYOL)
    with torch.no_grad():  # target != online, so that a wrong momentum or a wrong side shows
        for _, target in _pairs(method):
            target.add_(0.1 * torch.randn_like(target))
    before = [target.detach().clone() for _, target in _pairs(method)]
    trainer.train_step(next(iter(trainer.batches.epoch(0))))
    m = method.momentum(1, trainer.total_steps)
    assert m == params.momentum == 0.99  # BYOL's cosine schedule starts at the base momentum
    for (online, target), old in zip(_pairs(method), before, strict=True):
        torch.testing.assert_close(target, m * old + (1 - m) * online.detach(), rtol=1e-6, atol=1e-7)
    # BYOL, section 3.2: tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, here k = step - 1 and K = steps - 1.
    expected = [1 - (1 - 0.99) * (math.cos(math.pi * k / 99) + 1) / 2 for k in range(100)]
    assert [method.momentum(step, 100) for step in range(1, 101)] == pytest.approx(expected, abs=1e-12)


def test_target_is_frozen_and_outside_the_optimizer(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("byol").validate({**SMALL, "epochs": 1, "batch_size": 32})
    trainer = Trainer("byol", params, digits16[:64], workdir=tmp_path)
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    targets = [target for _, target in _pairs(trainer.model)]  # type: ignore[arg-type]
    assert all(not t.requires_grad and id(t) not in optimized for t in targets)
    assert {id(p) for p in trainer.model.parameters() if not p.requires_grad} == {id(t) for t in targets}
    assert {id(p) for p in trainer.model.parameters() if p.requires_grad} == optimized
    assert any(name.startswith("target_backbone.") for name in trainer.model.state_dict())  # checkpointed


def test_registered_as_contrastive_for_images_with_paper_defaults() -> None:
    spec = get_method("byol")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "contrastive",
        ("image",),
        BYOLParams,
        BYOL,
    )
    params = spec.validate({})
    assert (params.momentum, params.projection_dim, params.min_scale) == (0.99, 256, 0.08)


@pytest.mark.parametrize(
    ("field", "value"),
    [("momentum", -0.1), ("momentum", 1.01), ("projection_dim", 4), ("prediction_hidden_dim", 10_000), ("tau", 1)],
)
def test_bad_params_are_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("byol").validate({field: value})
    assert {issue.loc for issue in caught.value.issues} == {("params", field)}


def test_a_few_epochs_on_digits_lower_the_loss(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("byol").validate(
        {
            **SMALL,
            "projection_dim": 128,
            "hidden_dim": 256,
            "prediction_hidden_dim": 256,
            "epochs": 3,
            "batch_size": 64,
            "lr": 1e-2,
            "warmup_epochs": 0,
        }
    )
    hooks = LossRecorder()
    Trainer("byol", params, digits16[:256], workdir=tmp_path, hooks=hooks).fit()
    assert len(hooks.losses) == 12 and all(np.isfinite(hooks.losses))
    first, last = np.mean(hooks.losses[:4]), np.mean(hooks.losses[8:])
    assert last < first - 0.1, hooks.losses  # the loss lies in [-1, 1]
