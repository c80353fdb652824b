"""Variational autoencoder: the negative ELBO against its formula, the served mean, a short run on digits."""

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.decoders import Reconstruction
from selfsup.methods.vae import VAE, VAEParams, kl_to_standard_normal, negative_elbo
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder


def negative_elbo_reference(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float, kind: str
) -> torch.Tensor:
    """Reconstruction summed over each image + beta * KL, KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)),
    averaged over the batch, written out in float64."""
    logits, x, mu, logvar = (t.double() for t in (logits, x, mu, logvar))
    p = 1 / (1 + torch.exp(-logits))
    error = (p - x) ** 2 if kind == "mse" else -(x * torch.log(p) + (1 - x) * torch.log(1 - p))
    kl = -0.5 * (1 + logvar - mu**2 - torch.exp(logvar)).sum(dim=1)
    return (error.sum(dim=(1, 2, 3)) + beta * kl).mean()


def test_vae_is_registered_as_generative_with_typed_params() -> None:
    spec = get_method("vae")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "generative",
        ("image",),
        VAEParams,
        VAE,
    )
    assert spec.validate({}) == VAEParams() and VAEParams().beta == 1.0


@pytest.mark.parametrize(("field", "value"), [("latent_dim", 1), ("beta", -1.0), ("reconstruction", "l2")])
def test_bad_params_raise_a_param_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("vae").validate({field: value})
    assert [issue.loc for issue in caught.value.issues] == [("params", field)]


def test_kl_is_zero_at_the_prior_and_positive_elsewhere() -> None:
    zeros = torch.zeros(3, 5)
    assert torch.equal(kl_to_standard_normal(zeros, zeros), torch.zeros(3))
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    assert (kl_to_standard_normal(mu, logvar) > 0).all()


@pytest.mark.parametrize(("beta", "kind"), [(1.0, "mse"), (4.0, "mse"), (0.5, "bce")])
def test_negative_elbo_matches_the_formula(beta: float, kind: Reconstruction) -> None:
    torch.manual_seed(0)
    logits, x = torch.randn(4, 3, 6, 6), torch.rand(4, 3, 6, 6)
    mu, logvar = torch.randn(4, 7), torch.randn(4, 7)
    loss = negative_elbo(logits, x, mu, logvar, beta=beta, reconstruction=kind)
    expected = negative_elbo_reference(logits, x, mu, logvar, beta, kind)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-4)


def test_loss_reparameterizes_with_the_given_noise() -> None:
    torch.manual_seed(0)
    params = get_method("vae").validate({"backbone": "tiny_cnn", "latent_dim": 8, "beta": 2.0, "decoder_width": 32})
    method = VAE(params, create_backbone("tiny_cnn", image_size=16)).eval()
    images, noise = torch.rand(4, 3, 16, 16), torch.randn(4, 8)
    loss = method.loss(images, noise)
    with torch.no_grad():
        features = method.backbone(images)
        mu, logvar = method.mu(features), method.logvar(features)
        logits = method.decoder(mu + torch.exp(logvar / 2) * noise)
    torch.testing.assert_close(loss.double().detach(), negative_elbo_reference(logits, images, mu, logvar, 2.0, "mse"))
    assert method.embedding_head() is method.mu
    torch.testing.assert_close(method.embed(images), mu)
    loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_a_few_epochs_on_digits_lower_the_loss(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("vae").validate(
        {"backbone": "tiny_cnn", "epochs": 4, "batch_size": 64, "warmup_epochs": 0, "decoder_width": 32}
    )
    hooks = LossRecorder()
    result = Trainer("vae", params, digits16[:256], workdir=tmp_path, hooks=hooks).fit()
    assert result.status == "completed" and len(hooks.epoch_losses) == 4
    assert hooks.epoch_losses[-1] < 0.8 * hooks.epoch_losses[0], hooks.epoch_losses
