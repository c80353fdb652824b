"""Optimizer and learning-rate schedule from a method's params, and the per-step weight-decay value and gradient
clipping a method may ask for."""

import math

import torch
from lightly.utils.lars import LARS
from lightly.utils.scheduler import CosineWarmupScheduler
from torch import nn

from selfsup.params import CommonParams

# Leaf names of learned tokens that modules without a ``no_weight_decay()`` hold (lightly's MAE decoder has a
# mask token and no such method): like timm's ViT tokens they are embeddings, not weights to shrink.
TOKEN_NAMES = frozenset({"cls_token", "pos_embed", "mask_token", "reg_token", "dist_token"})
DECAYED = "decayed"  # the param-group key marking the group whose weight decay a schedule may move


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters that take no weight decay because of what they are, not their shape: the
    tokens each submodule names in timm's ``no_weight_decay()``, and any parameter whose leaf name is a token's.
    """
    names = {name for name, _ in model.named_parameters() if name.rsplit(".", 1)[-1] in TOKEN_NAMES}
    for prefix, module in model.named_modules():
        declared = getattr(module, "no_weight_decay", None)
        if callable(declared):
            names |= {f"{prefix}.{name}" if prefix else name for name in declared()}
    return names


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Biases and normalization weights (1-d tensors) and ViT tokens (by name, see :func:`no_weight_decay_names`)
    get no weight decay, as in SimCLR, BYOL, MAE and DINO."""
    exempt = no_weight_decay_names(model)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 or name in exempt else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay, DECAYED: True},
        {"params": no_decay, "weight_decay": 0.0, DECAYED: False},
    ]


def set_weight_decay(optimizer: torch.optim.Optimizer, value: float | None) -> None:
    """Give the decayed group the weight decay ``value`` (None: leave it as it is); the exempt group keeps 0."""
    if value is None:
        return
    for group in optimizer.param_groups:
        if group.get(DECAYED):
            group["weight_decay"] = value


def clip_gradients(model: nn.Module, max_norm: float | None) -> None:
    """Scale each parameter's gradient down to an L2 norm of at most ``max_norm`` (None: no clipping).

    Per parameter tensor, not over the whole model, as DINO's code does (``utils.clip_gradients``): one exploding
    layer is tamed without shrinking every other layer's step.
    """
    if max_norm is None:
        return
    for param in model.parameters():
        if param.grad is not None:
            norm = param.grad.detach().norm(2)
            param.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))


def build_optimizer(model: nn.Module, params: CommonParams) -> torch.optim.Optimizer:
    groups = parameter_groups(model, params.weight_decay)
    if params.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=params.lr, momentum=0.9)
    if params.optimizer == "lars":
        return LARS(groups, lr=params.lr, momentum=0.9)
    return torch.optim.AdamW(groups, lr=params.lr)


def build_schedule(
    optimizer: torch.optim.Optimizer,
    params: CommonParams,
    steps_per_epoch: int,
    *,
    total_steps: int | None = None,
    at_step: int = 0,
) -> CosineWarmupScheduler:
    """Linear warm-up then cosine decay, stepped once per optimizer step, over ``total_steps`` (by default
    every step of ``params.epochs``), already stepped to ``at_step`` (a schedule fixed after a run's first
    steps, which followed a longer one)."""
    total = params.epochs * steps_per_epoch if total_steps is None else total_steps
    warmup = min(math.ceil(params.warmup_epochs * steps_per_epoch), max(total - 1, 0))
    scheduler = CosineWarmupScheduler(optimizer, warmup_epochs=warmup, max_epochs=total, warmup_start_value=0.1)
    for _ in range(at_step):
        scheduler.step()
    return scheduler
