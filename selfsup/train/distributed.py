"""One run on several devices of one host: the ranks' process group and what the trainer asks of it.

Every rank builds the same :class:`~selfsup.train.loop.Trainer` (same seed, so the same initial weights) with a
:class:`Ranks` of its own. The trainer then asks its ``Ranks`` for the few things that differ from one process:
its shard of each global batch, its device, a loss function whose gradients are averaged across ranks
(DistributedDataParallel), agreement on when to stop and when to checkpoint, and the losses averaged for the
report. The single-process ``Ranks()`` answers each with what the trainer did before, untouched, so a one-device
run is the same run it always was.

Rank 0 alone writes checkpoints and reports; the caller gives the other ranks no-op hooks
(:func:`rank_processes` does). All ranks restore the same checkpoint, each its own random-number stream.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from selfsup.data.batches import EpochBatches
from selfsup.errors import SelfSupError
from selfsup.train.sync_batchnorm import synchronize_batchnorm

LossFn = Callable[[list[Any]], torch.Tensor]
RANK_SEED_STRIDE = 1_000_003  # rank r > 0 draws its augmentations from seed + r * stride


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the ``world_size`` processes that train one run (rank 0 reports)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def device(self, picked: torch.device) -> torch.device:
        """The rank's own GPU when the run is on CUDA; every CPU rank shares the CPU."""
        if self.distributed and picked.type == "cuda":
            return torch.device("cuda", self.rank)
        return picked

    def shard(self, batches: EpochBatches) -> "EpochBatches | ShardedBatches":
        return ShardedBatches(batches, self.rank, self.world_size) if self.distributed else batches

    def prepare(self, model: nn.Module, seed: int) -> None:
        """Make the method's model a part of a multi-process run: BatchNorm over the global batch, contrastive
        losses over every rank's samples, and an augmentation stream of the rank's own (rank 0 keeps the run's)."""
        if not self.distributed:
            return
        synchronize_batchnorm(model)
        for module in model.modules():  # lightly's losses and memory banks gather from every rank when told to
            if hasattr(module, "gather_distributed"):
                setattr(module, "gather_distributed", True)  # noqa: B010 (an attribute of lightly's, not ours)
        if self.rank:
            torch.manual_seed(seed + self.rank * RANK_SEED_STRIDE)

    def loss_fn(self, model: nn.Module, loss: LossFn) -> LossFn:
        """``loss`` taken through DistributedDataParallel, so that backward averages the gradients across ranks."""
        if not self.distributed:
            return loss
        wrapped = DistributedDataParallel(_LossModule(model), find_unused_parameters=True)
        return wrapped

    def mean(self, loss: torch.Tensor) -> torch.Tensor:
        """The step's loss over the global batch, for the report (each rank's loss is its shard's mean)."""
        if not self.distributed:
            return loss
        total = loss.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def any(self, flag: bool) -> bool:
        """True on every rank when it is on any: a stop one rank sees ends them all at the same step."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=self._collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def main_says(self, flag: bool) -> bool:
        """Rank 0's answer on every rank (when a checkpoint is due: each rank's clock says something else)."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=self._collective_device())
        dist.broadcast(value, src=0)
        return bool(value.item())

    def rng_states(self, own: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Every rank's random-number state, in rank order, on every rank; None for a single process."""
        if not self.distributed:
            return None
        states: list[Any] = [None] * self.world_size
        dist.all_gather_object(states, own)
        return states

    def own_rng(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload["rank_rng"][self.rank] if self.distributed else payload["rng"]

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", self.rank) if dist.get_backend() == "nccl" else torch.device("cpu")


class ShardedBatches:
    """A rank's part of every global batch of :class:`EpochBatches`: the same seeded epoch order on every rank,
    each global batch cut in ``world_size`` equal slices, so the ranks' batches together are the one-process
    batch."""

    def __init__(self, batches: EpochBatches, rank: int, world_size: int) -> None:
        if batches.batch_size % world_size:
            raise SelfSupError(
                f"a batch of {batches.batch_size} items cannot be split evenly over {world_size} devices"
            )
        self.batches, self.rank, self.world_size = batches, rank, world_size
        self.batch_size = batches.batch_size // world_size

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self, epoch: int, *, skip: int = 0) -> Iterator[np.ndarray]:
        start = self.rank * self.batch_size
        for batch in self.batches.epoch(epoch, skip=skip):
            yield batch[start : start + self.batch_size]


class _LossModule(nn.Module):
    """The method's training loss as a module's forward: DistributedDataParallel syncs what forward computes."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, views: list[Any]) -> torch.Tensor:
        return self.method.training_loss(views)  # type: ignore[operator]


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def check_devices(devices: int, device: torch.device) -> None:
    """Refuse more ranks than the host has GPUs; CPU ranks (gloo) are capped at ``MAX_CPU_RANKS``."""
    available = torch.cuda.device_count() if device.type == "cuda" else MAX_CPU_RANKS
    if devices > available:
        raise SelfSupError(f"{devices} devices asked for, but this host trains on at most {available} {device.type}")


MAX_CPU_RANKS = 4  # CPU ranks share the host's cores: more than a few only tests the launcher
