"""Training hooks that record what a run reported: losses for the method tests, steps for the loop's tests."""

from pathlib import Path

from selfsup.train.hooks import Metrics, Progress, TrainingHooks


class LossRecorder(TrainingHooks):
    """Keeps every step's ``loss`` and every epoch's ``epoch_loss``; can stop the run after an epoch."""

    def __init__(self, stop_at_epoch: int | None = None) -> None:
        self.losses: list[float] = []
        self.epoch_losses: list[float] = []
        self.stop_at_epoch = stop_at_epoch
        self.epoch = 0

    def on_loss(self, step: int, loss: float) -> None:
        self.losses.append(loss)

    def on_epoch_end(self, progress: Progress, metrics: Metrics) -> None:
        self.epoch = progress.epoch
        if "epoch_loss" in metrics:
            self.epoch_losses.append(metrics["epoch_loss"])

    def should_stop(self) -> bool:
        return self.stop_at_epoch is not None and self.epoch >= self.stop_at_epoch


class StepLog(TrainingHooks):
    """Each step's progress and metrics by global step, the epoch ends, and an optional crash after the
    checkpoint of one step (a worker dying there)."""

    def __init__(self, crash_at_step: int | None = None) -> None:
        self.steps: dict[int, Metrics] = {}
        self.progress: dict[int, Progress] = {}
        self.epoch_ends: list[Progress] = []
        self.crash_at_step = crash_at_step

    def on_step(self, progress: Progress, metrics: Metrics) -> None:
        self.steps[progress.step] = metrics
        self.progress[progress.step] = progress

    def on_epoch_end(self, progress: Progress, metrics: Metrics) -> None:
        self.epoch_ends.append(progress)

    def on_checkpoint(self, path: Path, progress: Progress) -> None:
        if progress.step == self.crash_at_step:
            self.crash_at_step = None
            raise RuntimeError("the worker died after this checkpoint")
