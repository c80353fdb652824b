"""BatchNorm over the global batch of a multi-process run, on CPU ranks too.

torch's :class:`~torch.nn.SyncBatchNorm` is the one to use on GPUs, but it refuses CPU tensors, and a CPU run on
gloo is how a multi-device job is tested. :class:`GlobalBatchNorm` computes the same statistics with
differentiable all-reduces (their backward all-reduces the gradients, so every rank's loss reaches every rank's
inputs): two passes, the mean and then the variance about it, as one process's BatchNorm would.
"""

import torch
import torch.distributed as dist
from torch import nn
from torch.autograd.function import FunctionCtx
from torch.nn.modules.batchnorm import _BatchNorm


class _SumOverRanks(torch.autograd.Function):
    """y = the sum of x over the ranks, on every rank. Each rank's x reaches every rank's y, so the gradient of
    x is the sum over the ranks of y's gradients: the backward is the same all-reduce (itself differentiable,
    as torch's deprecated ``torch.distributed.nn.functional.all_reduce`` has it)."""

    @staticmethod
    def forward(ctx: FunctionCtx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)  # all_reduce writes in place
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    @staticmethod
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return sum_over_ranks(grad)


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The differentiable all-reduce (SUM) of ``tensor`` over the default process group."""
    total: torch.Tensor = _SumOverRanks.apply(tensor)
    return total


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training-mode statistics are those of every rank's batch together. Input (B, C, ...)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input of at least 2 dimensions, got {input.dim()}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        x = input.float()  # statistics in float32 whatever autocast chose
        dims = [0, *range(2, x.dim())]
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        count = torch.tensor(float(x.numel() // x.shape[1]), device=x.device)
        total = sum_over_ranks(torch.cat([x.sum(dims), count.view(1)]))
        n = total[-1]
        mean = total[:-1] / n
        centered = x - mean.view(shape)
        var = sum_over_ranks((centered * centered).sum(dims)) / n
        self._update_running_stats(mean, var, n)
        out = centered * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: torch.Tensor) -> None:
        tracked = self.num_batches_tracked
        if not self.track_running_stats or self.running_mean is None or self.running_var is None or tracked is None:
            return
        tracked.add_(1)
        factor = self.momentum if self.momentum is not None else 1.0 / float(tracked)
        unbiased = var * n / (n - 1).clamp(min=1)  # as torch's BatchNorm keeps it
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)


def synchronize_batchnorm(model: nn.Module) -> None:
    """Swap every BatchNorm layer of ``model`` in place for one over the global batch, keeping its weights,
    statistics and which of them learn: torch's SyncBatchNorm on a GPU, :class:`GlobalBatchNorm` elsewhere. A layer
    reached from two parents (a method's encoder is often also its backbone's) stays one shared layer."""
    _swap(model, {})


def _swap(module: nn.Module, swapped: dict[int, nn.Module]) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, GlobalBatchNorm | nn.SyncBatchNorm):
            continue
        if isinstance(child, _BatchNorm):
            if id(child) not in swapped:
                swapped[id(child)] = _synced(child)
            setattr(module, name, swapped[id(child)])
        else:
            _swap(child, swapped)


def _synced(layer: _BatchNorm) -> nn.Module:
    tensors = [*layer.parameters(), *layer.buffers()]
    if any(t.is_cuda for t in tensors):
        return nn.SyncBatchNorm.convert_sync_batchnorm(layer)
    synced = GlobalBatchNorm(layer.num_features, layer.eps, layer.momentum, layer.affine, layer.track_running_stats)
    synced.load_state_dict(layer.state_dict())
    for mine, theirs in zip(synced.parameters(), layer.parameters(), strict=True):
        mine.requires_grad_(theirs.requires_grad)
    return synced.train(layer.training)
