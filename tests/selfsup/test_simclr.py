"""SimCLR: the NT-Xent loss against its formula, and a short run that learns on real digits."""

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.methods import get_method
from selfsup.methods.simclr import SimCLR
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder


def nt_xent_reference(z0: torch.Tensor, z1: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (Chen et al., 2020, eq. 1) written out: every one of the 2N views against the other 2N - 1.

    l(i, j) = -log( exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t) ), averaged over all 2N
    anchors, where j is the other view of i's image and sim is cosine similarity.
    """
    z = torch.cat([z0, z1])  # (2N, D)
    n = z0.shape[0]
    unit = z / z.norm(dim=1, keepdim=True)
    sim = unit @ unit.T / temperature  # (2N, 2N) cosine similarities / t
    total = torch.zeros((), dtype=z.dtype)
    for i in range(2 * n):
        positive = i + n if i < n else i - n
        others = [k for k in range(2 * n) if k != i]
        total = total - (sim[i, positive] - torch.logsumexp(sim[i, others], dim=0))
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_criterion_matches_the_nt_xent_formula(temperature: float) -> None:
    torch.manual_seed(0)
    params = get_method("simclr").validate({"backbone": "tiny_cnn", "temperature": temperature})
    method = SimCLR(params, create_backbone("tiny_cnn", image_size=16))
    z0, z1 = torch.randn(8, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
    expected = nt_xent_reference(z0, z1, temperature)
    torch.testing.assert_close(method.criterion(z0, z1), expected, rtol=1e-10, atol=1e-10)
    # The pairing matters: aligning each z1 with its own z0 must lower the loss.
    assert nt_xent_reference(z0, z0 + 0.01 * z1, temperature) < expected


def test_training_loss_is_nt_xent_of_the_projected_views() -> None:
    torch.manual_seed(0)
    params = get_method("simclr").validate({"backbone": "tiny_cnn", "temperature": 0.2})
    method = SimCLR(params, create_backbone("tiny_cnn", image_size=16)).eval()
    views = [torch.rand(6, 3, 16, 16), torch.rand(6, 3, 16, 16)]
    loss = method.training_loss(views)
    with torch.no_grad():
        z0, z1 = method.head(method.backbone(views[0])), method.head(method.backbone(views[1]))
    torch.testing.assert_close(loss.detach(), nt_xent_reference(z0, z1, 0.2), rtol=1e-5, atol=1e-5)
    assert z0.shape == (6, params.projection_dim)
    loss.backward()
    assert all(p.grad is not None for p in method.backbone.parameters())


def test_make_views_gives_two_different_views_of_the_input_shape(digits: np.ndarray) -> None:
    torch.manual_seed(0)
    params = get_method("simclr").validate({"backbone": "tiny_cnn"})
    method = SimCLR(params, create_backbone("tiny_cnn", image_size=32))
    images = torch.tensor(digits[:4]).permute(0, 3, 1, 2).float() / 255
    views = method.make_views(images)
    assert len(views) == 2 and all(v.shape == images.shape for v in views)
    assert not torch.equal(views[0], views[1])


def test_a_few_epochs_on_digits_lower_the_loss(digits: np.ndarray, tmp_path: Path) -> None:
    params = get_method("simclr").validate(
        {"backbone": "tiny_cnn", "epochs": 3, "batch_size": 64, "warmup_epochs": 0, "seed": 0}
    )
    hooks = LossRecorder()
    result = Trainer("simclr", params, digits[:256], workdir=tmp_path, hooks=hooks).fit()
    assert result.status == "completed" and result.progress.step == 12
    assert len(hooks.epoch_losses) == 3 and all(np.isfinite(hooks.epoch_losses))
    assert hooks.epoch_losses[-1] < hooks.epoch_losses[0], hooks.epoch_losses
