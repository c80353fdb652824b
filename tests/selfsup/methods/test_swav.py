"""SwAV: Sinkhorn codes, the swapped-prediction loss against its formula, prototypes, crops, and a short run."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightly.loss.swav_loss import sinkhorn

from selfsup.backbones import create_backbone
from selfsup.methods import get_method
from selfsup.methods.swav import SwAV
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

SMALL = {"n_prototypes": 32, "hidden_dim": 64, "projection_dim": 16, "num_local_crops": 2}


def make_swav(backbone: str = "tiny_cnn", size: int = 16, **params: object) -> SwAV:
    torch.manual_seed(0)
    resolved = get_method("swav").validate({"backbone": backbone, **SMALL, **params})
    return SwAV(resolved, create_backbone(backbone, image_size=size))


def cosine_scores(batch: int, prototypes: int, dim: int = 16) -> torch.Tensor:
    return F.normalize(torch.randn(batch, dim), dim=1) @ F.normalize(torch.randn(prototypes, dim), dim=1).T


def sinkhorn_reference(scores: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """Caron et al. (2020), eq. 3 and algorithm 1: Q = exp(C^T Z / eps) scaled, by turns, to prototype
    marginals 1/K and sample marginals 1/B; returned as (B, K) codes, each row a distribution."""
    q = torch.exp(scores / epsilon).T  # (K, B)
    q = q / q.sum()
    prototypes, batch = q.shape
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / prototypes
        q = q / q.sum(dim=0, keepdim=True) / batch
    return (q * batch).T


def swav_reference(
    high: list[torch.Tensor], low: list[torch.Tensor], temperature: float, epsilon: float, iterations: int
) -> torch.Tensor:
    """Eq. 1 over multi-crop (sec. 3.2): for each global crop's codes q, the cross-entropy -sum q log p of
    every other crop's softmax(scores / temperature), averaged over crops, pairs and the batch."""
    crops = high + low
    total = torch.zeros(())
    for i, scores in enumerate(high):
        codes = sinkhorn_reference(scores, epsilon, iterations)
        others = [z for v, z in enumerate(crops) if v != i]
        swapped = [-(codes * F.log_softmax(z / temperature, dim=1)).sum(1).mean() for z in others]
        total = total + sum(swapped) / len(others)
    return total / len(high)


def test_sinkhorn_codes_are_an_equipartition() -> None:
    torch.manual_seed(0)
    scores = cosine_scores(64, 16)
    codes = sinkhorn(scores, iterations=3, epsilon=0.05)
    torch.testing.assert_close(codes, sinkhorn_reference(scores, 0.05, 3))
    assert (codes >= 0).all()
    torch.testing.assert_close(codes.sum(1), torch.ones(64))  # each image: a distribution over prototypes
    # Prototype marginals head for B/K each: far closer after the paper's 3 iterations than a plain softmax,
    # and equal once converged.
    spread = (codes.sum(0) - 64 / 16).abs().max()
    assert spread < 0.5 * (F.softmax(scores / 0.05, dim=1).sum(0) - 64 / 16).abs().max()
    converged = sinkhorn(scores, iterations=100, epsilon=0.05)
    torch.testing.assert_close(converged.sum(0), torch.full((16,), 64 / 16), rtol=1e-3, atol=0)
    torch.testing.assert_close(converged.sum(1), torch.ones(64))


def test_criterion_is_the_swapped_prediction_of_sinkhorn_codes() -> None:
    method = make_swav(temperature=0.2, sinkhorn_epsilon=0.05, sinkhorn_iterations=3)
    torch.manual_seed(1)
    high = [cosine_scores(8, 32) for _ in range(2)]
    low = [cosine_scores(8, 32) for _ in range(3)]
    loss = method.criterion(high, low)
    torch.testing.assert_close(loss.squeeze(0), swav_reference(high, low, 0.2, 0.05, 3), rtol=1e-5, atol=1e-6)
    # Swapping is what is learned: giving every crop the codes' own scores lowers the loss.
    assert method.criterion(high, [high[0]] * 3) < loss


def test_training_loss_scores_unit_projections_on_unit_prototypes(digits16: np.ndarray) -> None:
    method = make_swav().eval()  # BatchNorm on running statistics: one image's output does not depend on the rest
    views = method.make_views(torch.tensor(digits16[:8]).permute(0, 3, 1, 2).float() / 255)
    loss = method.training_loss(views)
    weight = method.prototypes.heads[0].weight  # (K, P)
    torch.testing.assert_close(weight.norm(dim=1), torch.ones(32))  # normalized before the step
    with torch.no_grad():
        scores = [method.prototypes(F.normalize(method.head(method.backbone(v)), dim=1), step=1) for v in views]
    expected = swav_reference(scores[:2], scores[2:], 0.1, 0.05, 3)
    assert loss.shape == ()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-4, atol=1e-5)


def test_prototypes_are_frozen_during_the_first_epoch(digits16: np.ndarray) -> None:
    method = make_swav(freeze_prototypes_epochs=1, epochs=2)
    views = method.make_views(torch.tensor(digits16[:8]).permute(0, 3, 1, 2).float() / 255)
    method.training_loss(views).backward()
    assert method.prototypes.heads[0].weight.grad is None and method.head.layers[0].weight.grad is not None
    method.after_step(5, 10, steps_per_epoch=5)  # half-way: the second epoch starts
    method.training_loss(views).backward()
    assert method.prototypes.heads[0].weight.grad is not None


@pytest.mark.parametrize(("backbone", "local_size"), [("tiny_cnn", 14), ("vit_tiny", 12)])
def test_two_global_and_n_local_crops_of_the_stated_sizes(backbone: str, local_size: int) -> None:
    method = make_swav(backbone, size=32, num_local_crops=6)
    views = method.make_views(torch.rand(3, 3, 32, 32))
    assert [tuple(v.shape) for v in views] == [(3, 3, 32, 32)] * 2 + [(3, 3, local_size, local_size)] * 6
    assert torch.isfinite(method.training_loss(views))


def test_a_few_epochs_on_digits_lower_the_loss(digits: np.ndarray, tmp_path: Path) -> None:
    params = get_method("swav").validate(
        {
            "backbone": "tiny_cnn",
            "n_prototypes": 64,
            "num_local_crops": 2,
            "epochs": 4,
            "batch_size": 32,
            "optimizer": "adamw",
            "lr": 3e-3,
            "weight_decay": 1e-4,
            "warmup_epochs": 0,
            "seed": 0,
        }
    )
    hooks = LossRecorder()
    result = Trainer("swav", params, digits[:128], workdir=tmp_path, hooks=hooks).fit()
    assert result.status == "completed" and result.progress.step == 16
    assert len(hooks.epoch_losses) == 4 and all(np.isfinite(hooks.epoch_losses))
    assert hooks.epoch_losses[-1] < hooks.epoch_losses[0] - 0.15, hooks.epoch_losses  # about 4.47 -> 4.17
