"""Variational autoencoder (Kingma & Welling, 2014, "Auto-Encoding Variational Bayes"), with the KL weight
``beta`` of Higgins et al. (2017, "beta-VAE")."""

from dataclasses import dataclass
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from selfsup.augment import random_resized_crop
from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.decoders import ConvDecoder, Reconstruction, reconstruction_error
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class VAEParams(TrainingParams):
    latent_dim: Annotated[int, Field(ge=2, le=4096, description="Size of the latent z (and of the embedding).")] = 64
    beta: Annotated[float, Field(ge=0, le=100, description="Weight of the KL term (1 is the plain VAE).")] = 1.0
    reconstruction: Annotated[Reconstruction, Field(description="Reconstruction error: mse or bce.")] = "mse"
    decoder_width: Annotated[int, Field(ge=16, le=1024, description="Channels of the decoder's first map.")] = 64
    # Whole images by default: a VAE must reconstruct what it sees, so random crops make its small latent spend
    # itself on position and scale (on digits, kNN on the mean fell below random init with crops from 0.5).
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 1.0


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form (Kingma & Welling, 2014, appendix B): (B, L) -> (B,)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def negative_elbo(
    logits: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float,
    reconstruction: Reconstruction,
) -> torch.Tensor:
    """Batch mean of (reconstruction error summed over the image) + beta * KL, in float32.

    ``logits``/``target``: (B, 3, S, S); ``mu``/``logvar``: (B, L).
    """
    error = reconstruction_error(logits, target, reconstruction).flatten(1).sum(dim=1)  # (B,)
    return (error + beta * kl_to_standard_normal(mu.float(), logvar.float())).mean()


@register_method("vae", family="generative", modalities=("image",), params=VAEParams)
class VAE(SSLMethod):
    """Variational autoencoder: backbone features -> Gaussian posterior over z -> decoded image.

    The served embedding is the posterior mean mu (:meth:`embedding_head` is the mu layer).
    """

    def __init__(self, params: VAEParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        self.mu = nn.Linear(backbone.dim, params.latent_dim)
        self.logvar = nn.Linear(backbone.dim, params.latent_dim)
        self.decoder = ConvDecoder(params.latent_dim, backbone.spec.image_size, width=params.decoder_width)

    def embedding_head(self) -> nn.Module:
        return self.mu

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) -> posterior mean and log-variance, each (B, L)."""
        features = self.backbone(images)  # (B, D)
        return self.mu(features), self.logvar(features)

    def loss(self, images: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Negative ELBO with the reparameterization z = mu + exp(logvar / 2) * noise, noise (B, L) ~ N(0, I)."""
        mu, logvar = self.encode(images)
        z = mu + torch.exp(0.5 * logvar) * noise  # (B, L)
        logits = self.decoder(z)  # (B, 3, S, S)
        p = self.params
        return negative_elbo(logits, images, mu, logvar, beta=p.beta, reconstruction=p.reconstruction)

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        size, scale = self.backbone.spec.image_size, (self.params.min_scale, 1.0)
        return [random_resized_crop(images, size, scale=scale)]  # (B, 3, S, S)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        images = views[0]
        noise = torch.randn(images.shape[0], self.params.latent_dim, device=images.device)  # (B, L)
        return self.loss(images, noise)
