"""Step losses read back from the device every few steps, and the step rate measured between two reads."""

import math
import time

import torch

from selfsup.errors import TrainingDiverged
from selfsup.train.hooks import Metrics

DEFAULT_LOSS_EVERY = 10


class StepReadout:
    """The losses of the steps since the last read, read back together every ``every`` steps.

    Reading a loss waits for the device to finish its step: on CUDA, doing it every step keeps the host from
    queuing the next step while the device runs this one. Read every ``every`` steps, and whenever the loop
    asks (a run's first step, an epoch's end, before a checkpoint), a NaN or infinite loss is still caught
    within ``every`` steps, named by its own step, and before a checkpoint could keep the weights it made.

    Each read closes a measuring window: ``samples_per_second`` over the window's steps and
    ``data_wait_fraction``, the share of the window's time the training thread waited for batches.
    """

    def __init__(self, every: int = DEFAULT_LOSS_EVERY) -> None:
        if every < 1:
            raise ValueError(f"the loss must be read at least every step, not every {every}")
        self.every = every
        self.metrics: Metrics = {}  # of the latest read: loss (of its last step), samples_per_second, data_wait
        self.data_wait_s = 0.0  # seconds waited for batches over this readout's life
        self._pending: list[tuple[int, torch.Tensor]] = []  # (step, its loss still on the device)
        self._epoch_losses: list[float] = []
        self.restart()

    def restart(self) -> None:
        """Open a new window now: what the loop did before (a checkpoint, the probe) is not step time."""
        self._window_start = time.perf_counter()
        self._window_samples, self._window_wait_s = 0, 0.0

    def add(self, step: int, loss: torch.Tensor, *, samples: int, waited_s: float) -> None:
        """Step ``step`` trained on ``samples`` items after waiting ``waited_s`` for them; nothing is read."""
        self._pending.append((step, loss.detach()))
        self._window_samples += samples
        self._window_wait_s += waited_s
        self.data_wait_s += waited_s

    @property
    def due(self) -> bool:
        return len(self._pending) >= self.every or not self.metrics

    def read(self) -> list[tuple[int, float]]:
        """Read the pending losses with one wait for the device, check them and close the window; returns the
        ``(step, loss)`` read, in step order."""
        if not self._pending:
            return []
        steps = [step for step, _ in self._pending]
        values = torch.stack([loss.float() for _, loss in self._pending]).cpu().tolist()
        self._pending = []
        for step, value in zip(steps, values, strict=True):
            if not math.isfinite(value):
                raise TrainingDiverged(f"loss became {value} at step {step}; try a lower lr")
        self._epoch_losses.extend(values)
        elapsed = max(time.perf_counter() - self._window_start, 1e-9)
        self.metrics = {
            "loss": values[-1],
            "samples_per_second": self._window_samples / elapsed,
            "data_wait_fraction": min(self._window_wait_s / elapsed, 1.0),
        }
        self.restart()
        return list(zip(steps, values, strict=True))

    def end_epoch(self) -> Metrics:
        """The epoch's mean ``epoch_loss`` (absent when it took no step here, as after a resume that found its
        steps done), and a fresh epoch. Read what is pending first."""
        losses, self._epoch_losses = self._epoch_losses, []
        return {"epoch_loss": float(sum(losses) / len(losses))} if losses else {}
