"""Pretrained image models made by the test itself, laid out as the Hugging Face Hub stores timm models."""

import json
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

from selfsup.pretrained_backbones import CONFIG_FILE, WEIGHTS_FILE


def install_timm_model(folder: Path, architecture: str, *, config: dict | None = None) -> dict[str, torch.Tensor]:
    """A timm model, classifier head included, its weights perturbed deterministically (running statistics too)
    so that no random init can match them; returns the tensors written to ``folder``."""
    torch.manual_seed(1234)
    model = timm.create_model(architecture)
    noise = torch.Generator().manual_seed(7)
    weights = {}
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            value = value + 0.01 * torch.randn(value.shape, generator=noise)
        weights[key] = value.contiguous()
    folder.mkdir(parents=True)
    save_file(weights, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(config or {"architecture": architecture}))
    return weights
