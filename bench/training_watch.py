"""What the million-image bench watches while the engine trains: each step's loss, time and item indices.

Its own module because it imports torch (through the engine): ``million_images`` must not, or every
decoding process its ingest child spawns would import torch too.
"""

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from selfsup.data.image_data import ImageData
from selfsup.train.hooks import Metrics, Progress, TrainingHooks

EDGE_STEPS = 10  # the loss "at the start" and "at the end" is the mean over this many steps


class WatchedImages(ImageData):
    """The engine's image data, unchanged, recording the indices of each training batch it gathers, in order
    (on the trainer's loader thread); the probe's reads, which go through ``batch``, are left out."""

    def __init__(self, images: np.ndarray) -> None:
        super().__init__(images)
        self.drawn: list[np.ndarray] = []
        self._probing = False

    def gather(self, indices: np.ndarray) -> torch.Tensor:
        if not self._probing:
            self.drawn.append(indices)
        return super().gather(indices)

    def batch(self, indices: np.ndarray, device: torch.device) -> torch.Tensor:
        self._probing = True
        try:
            return super().batch(indices, device)
        finally:
            self._probing = False


class StepWatch(TrainingHooks):
    """Collects, per optimizer step, the loss, the time it ended and the indices its batch drew."""

    def __init__(self, data: WatchedImages, *, print_every: int, say: Callable[[str], None]) -> None:
        self.data, self.print_every, self.say = data, print_every, say
        self.losses: list[float] = []
        self.ended: list[float] = []

    def on_loss(self, step: int, loss: float) -> None:
        self.losses.append(loss)

    def on_step(self, progress: Progress, metrics: Metrics) -> None:
        self.ended.append(time.perf_counter())
        if progress.step % self.print_every == 0:
            self.say(f"step {progress.step}/{progress.total_steps}: loss {metrics['loss']:.3f}")

    def summary(self, num_items: int) -> dict[str, Any]:
        steps = self.data.drawn[: len(self.ended)]  # a cancel may leave batches gathered but not trained on
        drawn = np.concatenate(steps)
        timed_steps = len(self.ended) - 1  # from the end of the first step: it pays for the warm-up
        seconds = self.ended[-1] - self.ended[0]
        return {
            "steps": len(self.losses),
            "loss_first": self.losses[0],
            "loss_last": self.losses[-1],
            "loss_start_mean": float(np.mean(self.losses[:EDGE_STEPS])),
            "loss_end_mean": float(np.mean(self.losses[-EDGE_STEPS:])),
            "steps_per_s": timed_steps / seconds,
            "samples_per_s": timed_steps * len(steps[0]) / seconds,
            "index_min": int(drawn.min()),
            "index_max": int(drawn.max()),
            "distinct_items": int(np.unique(drawn).size),
            "tenths_of_array_hit": int(np.unique(drawn * 10 // num_items).size),
        }
