"""A training hook that records losses, shared by the engine's method tests."""

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
