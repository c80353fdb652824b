"""Optimizer and learning-rate schedule from a method's params."""

import math

import torch
from lightly.utils.lars import LARS
from lightly.utils.scheduler import CosineWarmupScheduler
from torch import nn

from selfsup.params import CommonParams


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Biases and normalization weights (1-d tensors) get no weight decay, as in SimCLR, BYOL and DINO."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, params: CommonParams) -> torch.optim.Optimizer:
    groups = parameter_groups(model, params.weight_decay)
    if params.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=params.lr, momentum=0.9)
    if params.optimizer == "lars":
        return LARS(groups, lr=params.lr, momentum=0.9)
    return torch.optim.AdamW(groups, lr=params.lr)


def build_schedule(
    optimizer: torch.optim.Optimizer, params: CommonParams, steps_per_epoch: int, *, total_steps: int | None = None
) -> CosineWarmupScheduler:
    """Linear warm-up then cosine decay, stepped once per optimizer step, over ``total_steps`` (by default
    every step of ``params.epochs``)."""
    total = params.epochs * steps_per_epoch if total_steps is None else total_steps
    warmup = min(math.ceil(params.warmup_epochs * steps_per_epoch), max(total - 1, 0))
    return CosineWarmupScheduler(optimizer, warmup_epochs=warmup, max_epochs=total, warmup_start_value=0.1)
