"""How a caller watches a run: progress counters, metrics and a stop flag."""

from dataclasses import dataclass
from pathlib import Path

Metrics = dict[str, float]


@dataclass(frozen=True)
class Progress:
    """Where a run stands. ``epoch`` counts finished epochs; ``step`` counts finished optimizer steps."""

    epoch: int
    epochs: int
    step: int
    total_steps: int

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0


class TrainingHooks:
    """No-op base; override what you need. Hooks run on the training thread, so keep them cheap."""

    def on_step(self, progress: Progress, metrics: Metrics) -> None:
        """After every optimizer step, with its ``lr`` and, as of the latest loss read (the trainer reads the
        loss back from the device every ``loss_every`` steps, not every step), ``loss`` (of the step read last),
        ``samples_per_second`` and ``data_wait_fraction`` (of the time since the read before it, the share the
        training thread spent waiting for batches)."""

    def on_loss(self, step: int, loss: float) -> None:
        """Once for every step, with its loss, when it is read: several at a time, in step order."""

    def on_epoch_end(self, progress: Progress, metrics: Metrics) -> None:
        """After every epoch, with the epoch's mean ``epoch_loss`` (absent if a resume found no step left) and
        the label-free ``rankme``, ``alignment``, ``uniformity``, ``embedding_std``, ``mean_cosine`` and
        ``participation_ratio`` of the embeddings (absent if the trainer's ``probe_size`` is 0);
        :func:`selfsup.eval.collapse_warning` reads them."""

    def may_publish_checkpoint(self) -> bool:
        """Asked after a checkpoint is written, before it replaces the previous one: a caller that may have
        been superseded by another run of the same workdir (a stalled job attempt) says no, or raises."""
        return True

    def on_checkpoint(self, path: Path, progress: Progress) -> None:
        """After a checkpoint has been written atomically."""

    def should_stop(self) -> bool:
        """Polled before every step; returning True checkpoints and ends the run as canceled."""
        return False
