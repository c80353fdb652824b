"""Two CPU ranks (gloo) train the run one process trains: same global batch, same loss trajectory.

The gradient test is exact up to float reduction order: the same views, split over two ranks, give one
process's gradients (synchronized BatchNorm, negatives gathered from both ranks, gradients averaged). The
trajectory test cannot be exact: each rank draws the augmentations of its half of the batch from its own
random stream, so the views differ from one process's; the losses then agree only as well as two seeds of
the same run do, which is the tolerance it states.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.data.batches import EpochBatches
from selfsup.errors import SelfSupError
from selfsup.methods import get_method
from selfsup.train.distributed import Ranks, ShardedBatches
from selfsup.train.hooks import TrainingHooks
from selfsup.train.launch import rank_processes
from selfsup.train.loop import Trainer

CPU = torch.device("cpu")
STEP_ITEMS = 16


class LossLog(TrainingHooks):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_loss(self, step: int, loss: float) -> None:
        self.losses.append(loss)


# The tolerances below were measured at these SimCLR params (its defaults until they were tuned for quality): its
# colder default softmax and stronger augmentation make each 32-pair step's loss swing more with the draws, which
# would measure the augmentation, not the ranks.
CALIBRATED: dict[str, dict[str, Any]] = {
    "simclr": {"temperature": 0.5, "min_scale": 0.2, "jitter_strength": 0.5, "lr": 2e-3},
}


def digits_params(method: str, devices: int, **overrides: Any) -> Any:
    raw = {"backbone": "tiny_cnn", "epochs": 2, "batch_size": 32, "warmup_epochs": 0, "devices": devices}
    return get_method(method).validate({**raw, **CALIBRATED.get(method, {}), **overrides})


@dataclass(frozen=True)
class DigitsRun:
    """One rank's trainer of a run over ``images`` (pickled to the spawned ranks)."""

    method: str
    images: np.ndarray
    workdir: Path
    devices: int = 2

    def __call__(self, ranks: Ranks, hooks: TrainingHooks | None = None) -> Trainer:
        params = digits_params(self.method, self.devices)
        return Trainer(
            self.method, params, self.images, workdir=self.workdir, hooks=hooks, ranks=ranks, probe_size=0, prefetch=0
        )


@dataclass(frozen=True)
class GradientStep(DigitsRun):
    """Rank's part of one step on fixed views: its trainer backpropagates its shard of them, gradients saved."""

    def __call__(self, ranks: Ranks, hooks: TrainingHooks | None = None) -> Trainer:
        trainer = super().__call__(ranks, hooks)
        views = fixed_views(self.images)
        shard = slice(ranks.rank * STEP_ITEMS // 2, (ranks.rank + 1) * STEP_ITEMS // 2)
        trainer._training_loss([view[shard] for view in views]).backward()
        if ranks.is_main:
            torch.save(gradients(trainer), self.workdir / "gradients.pt")
        return FinishedRun(trainer)  # type: ignore[return-value]


class FinishedRun:
    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def fit(self) -> None:
        """The step is taken; nothing more to train."""


def fixed_views(images: np.ndarray) -> list[torch.Tensor]:
    batch = torch.from_numpy(images[:STEP_ITEMS].copy()).permute(0, 3, 1, 2).float() / 255
    return [batch, batch.flip(3) * 0.9]


def gradients(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}


@pytest.fixture(scope="module")
def images(digits16: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(digits16[:192])


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_one_step_on_two_ranks_has_the_one_process_gradient(method: str, images: np.ndarray, tmp_path: Path) -> None:
    alone = Trainer(method, digits_params(method, 1), images, workdir=tmp_path / "one", probe_size=0)
    alone._training_loss(fixed_views(images)).backward()
    step = GradientStep(method, images, tmp_path)
    with rank_processes(step, 2, CPU) as ranks:
        step(ranks).fit()
    two = torch.load(tmp_path / "gradients.pt")
    one = gradients(alone)
    assert two.keys() == one.keys() and one
    flat_one, flat_two = (torch.cat([grads[name].flatten() for name in one]) for grads in (one, two))
    gap = ((flat_two - flat_one).norm() / flat_one.norm()).item()
    print(f"{method}: gradient gap {gap:.2e} of its norm")
    assert gap < GRADIENT_TOLERANCE


# Of the gradient's norm. Float reduction order alone moves BYOL's one-process gradient on these tiny batches by
# about 1e-3 of its norm (one CPU thread against two); SimCLR's moves far less.
GRADIENT_TOLERANCE = 1e-2


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_two_ranks_follow_the_one_process_loss_trajectory(method: str, images: np.ndarray, tmp_path: Path) -> None:
    one, two = LossLog(), LossLog()
    alone = DigitsRun(method, images, tmp_path / "one", devices=1)
    alone(Ranks(), one).fit()
    run = DigitsRun(method, images, tmp_path / "two")
    with rank_processes(run, 2, CPU) as ranks:
        result = run(ranks, two).fit()
    assert result.status == "completed" and len(two.losses) == len(one.losses) == 12
    one_losses, two_losses = np.array(one.losses), np.array(two.losses)
    scale = np.abs(one_losses).mean()
    gap = np.abs(two_losses - one_losses) / scale
    epoch_gap = np.abs(two_losses.reshape(2, -1).mean(1) - one_losses.reshape(2, -1).mean(1)) / scale
    print(f"{method}: loss {one_losses.round(3)} vs {two_losses.round(3)}")
    print(f"{method}: step gap max {gap.max():.3f} mean {gap.mean():.3f}, epoch-mean gap max {epoch_gap.max():.3f}")
    assert gap.max() < STEP_TOLERANCE and epoch_gap.max() < EPOCH_TOLERANCE


# Of the mean loss. Each step's loss is of 32 augmented pairs whose draws differ between the runs (see the module
# docstring): a step's loss moves by several percent with them, an epoch's mean (6 steps) by less.
STEP_TOLERANCE, EPOCH_TOLERANCE = 0.15, 0.05


def test_each_rank_takes_its_slice_of_the_same_global_batches() -> None:
    batches = EpochBatches(100, 32, seed=3)
    shards = [ShardedBatches(batches, rank, 2) for rank in range(2)]
    assert len(shards[0]) == len(batches) == 3
    for whole, *parts in zip(batches.epoch(1, skip=1), *(shard.epoch(1, skip=1) for shard in shards), strict=True):
        assert [len(part) for part in parts] == [16, 16]
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_a_batch_that_does_not_split_over_the_ranks_is_refused() -> None:
    with pytest.raises(SelfSupError, match="cannot be split evenly over 2 devices"):
        ShardedBatches(EpochBatches(100, 31, seed=0), 0, 2)


def test_a_multi_device_run_needs_its_ranks(images: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(SelfSupError, match="fit_on_devices"):
        Trainer("simclr", digits_params("simclr", 2), images, workdir=tmp_path)
