"""The training loop: read it top to bottom in :meth:`Trainer.fit`."""

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.data.batches import EpochBatches
from selfsup.data.image_data import as_training_data
from selfsup.device import autocast_for, keep_freed_memory, memory_format_for, pick_device
from selfsup.errors import CheckpointError, ParamError, SelfSupError
from selfsup.eval import DEFAULT_PROBE_SIZE, RepresentationProbe
from selfsup.methods import MethodSpec, get_method
from selfsup.params import params_to_dict
from selfsup.train.checkpoint import (
    CHECKPOINT_FORMAT,
    load_payload,
    restore_rng_state,
    rng_state,
    save_atomically,
)
from selfsup.train.export import export_encoder
from selfsup.train.hooks import Metrics, Progress, TrainingHooks
from selfsup.train.memory import out_of_memory_as_error
from selfsup.train.optim import build_optimizer, build_schedule


class TrainingDiverged(SelfSupError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainResult:
    status: Literal["completed", "canceled"]
    progress: Progress
    metrics: Metrics
    checkpoint_path: Path


class Trainer:
    """Trains one method on one dataset in canonical form, checkpointing into ``workdir``.

    ``data`` is any modality's :class:`TrainingData`; a bare (N, S, S, 3) uint8 array is taken as images.

    ``fit`` resumes from ``workdir/checkpoint.pt`` when it exists, so calling it again after a crash or a
    cancel continues the same run. After every epoch it measures the embeddings of ``probe_size`` items fixed
    by the seed (see :meth:`evaluate_representation`); 0 turns that off.

    ``teacher`` is the frozen :class:`~selfsup.encoder.Encoder` a distillation method learns from (those whose
    spec ``takes_teacher``), moved to the training device; it is not checkpointed, so a resumed run is handed
    it again. Other methods take none.

    ``max_steps`` ends the run after that many steps if they come before the end of its last epoch (a
    bounded trial or benchmark run over a large dataset): the learning-rate schedule then spans those steps,
    and the epoch the run stops in ends early, with its checkpoint and probe. Like ``params``, it belongs to
    the run: a checkpoint resumes only with the same value.
    """

    def __init__(
        self,
        method: str | MethodSpec,
        params: Any,
        data: TrainingData | np.ndarray,
        *,
        workdir: Path,
        device: str | None = None,
        hooks: TrainingHooks | None = None,
        checkpoint_every_s: float = 300.0,
        probe_size: int = DEFAULT_PROBE_SIZE,
        max_steps: int | None = None,
        teacher: Any = None,
    ) -> None:
        self.spec = get_method(method) if isinstance(method, str) else method
        self.params = params
        self.data = as_training_data(data)
        self.device = pick_device(device)
        self.hooks = hooks or TrainingHooks()
        self.checkpoint_path = Path(workdir) / "checkpoint.pt"
        self.checkpoint_every_s = checkpoint_every_s
        self.memory_format = memory_format_for(self.device)
        if self.device.type == "cpu":
            keep_freed_memory()

        torch.manual_seed(params.seed)  # the random init is part of the run's identity
        if self.data.modality not in self.spec.modalities:
            raise SelfSupError(f"method {self.spec.name!r} does not train on {self.data.modality} data")
        encoder = self.data.create_encoder(params)
        self.model = self.spec.method_cls(params, encoder, **self._method_inputs(teacher))
        self.model = self.model.to(self.device).to(memory_format=self.memory_format)
        if max_steps is not None and max_steps < 1:
            raise SelfSupError(f"max_steps must be at least 1, not {max_steps}")
        self.max_steps = max_steps
        self.batches = EpochBatches(len(self.data), params.batch_size, params.seed)
        self.optimizer = build_optimizer(self.model, params)
        self.scheduler = build_schedule(self.optimizer, params, len(self.batches), total_steps=self.total_steps)
        self.epoch, self.step, self.step_in_epoch = 0, 0, 0
        self.probe = RepresentationProbe(self.data, size=probe_size, seed=params.seed) if probe_size else None

    def _method_inputs(self, teacher: Any) -> dict[str, Any]:
        """What the method is built with besides its params and encoder: a distillation method's teacher."""
        if self.spec.takes_teacher and teacher is None:
            raise SelfSupError(f"method {self.spec.name!r} learns from a teacher: pass teacher=Encoder.load(...)")
        if not self.spec.takes_teacher and teacher is not None:
            raise SelfSupError(f"method {self.spec.name!r} takes no teacher")
        return {"teacher": teacher.to(self.device)} if teacher is not None else {}

    @property
    def total_steps(self) -> int:
        every_epoch = self.params.epochs * len(self.batches)
        return every_epoch if self.max_steps is None else min(every_epoch, self.max_steps)

    def progress(self) -> Progress:
        return Progress(self.epoch, self.params.epochs, self.step, self.total_steps)

    def fit(self) -> TrainResult:
        if self.checkpoint_path.is_file():
            self.restore(self.checkpoint_path)
        self.model.train()
        metrics: Metrics = {}
        last_save = time.monotonic()
        while self._work_left():
            epoch_losses: list[float] = []
            batches = self.batches.epoch(self.epoch, skip=self.step_in_epoch)
            for indices in itertools.islice(batches, self.total_steps - self.step):
                if self.hooks.should_stop():
                    return self._finish("canceled", metrics)
                with out_of_memory_as_error(batch_size=self.params.batch_size, device=self.device):
                    metrics = self.train_step(indices)
                epoch_losses.append(metrics["loss"])
                self.hooks.on_step(self.progress(), metrics)
                if time.monotonic() - last_save > self.checkpoint_every_s:
                    self.save_checkpoint()
                    last_save = time.monotonic()
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            if epoch_losses:  # none when a resume found this epoch's steps all done (a crash after the last)
                metrics = {**metrics, "epoch_loss": float(np.mean(epoch_losses))}
            self.save_checkpoint()
            last_save = time.monotonic()
            metrics = {**metrics, **self.evaluate_representation()}
            self.hooks.on_epoch_end(self.progress(), metrics)
        return self._finish("completed", metrics)

    def _work_left(self) -> bool:
        """Steps left to take, or an epoch whose steps are done but whose end (checkpoint, probe) is not: a
        crash can fall between the two."""
        return self.epoch < self.params.epochs and (self.step < self.total_steps or self.step_in_epoch > 0)

    def train_step(self, indices: np.ndarray) -> Metrics:
        started = time.perf_counter()
        batch = self.data.batch(indices, self.device)
        loaded = time.perf_counter()  # operators ask how much of a step waits on data rather than on the model
        with torch.no_grad():
            views = self.model.make_views(batch)
        views = [self._formatted(view) for view in views]
        with autocast_for(self.device):
            loss = self.model.training_loss(views)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses; the schedule then moves on
        self.optimizer.step()
        self.scheduler.step()
        self.step, self.step_in_epoch = self.step + 1, self.step_in_epoch + 1
        self.model.after_step(self.step, self.total_steps)
        value = float(loss.detach())
        if not np.isfinite(value):
            raise TrainingDiverged(f"loss became {value} at step {self.step}; try a lower lr")
        elapsed = time.perf_counter() - started
        data_wait = (loaded - started) / elapsed if elapsed > 0 else 0.0
        return {"loss": value, "lr": lr, "samples_per_second": len(indices) / elapsed, "data_wait_fraction": data_wait}

    def evaluate_representation(self) -> Metrics:
        """Label-free quality of the current embeddings on the probe items: ``rankme``, ``alignment``,
        ``uniformity``, ``embedding_std``, ``mean_cosine`` and ``participation_ratio`` (see
        :mod:`selfsup.eval.metrics`); empty when ``probe_size`` is 0.

        Runs in eval mode without gradients on a forked RNG, so it changes neither the model nor the run.
        """
        return self.probe.evaluate(self.model, self.device) if self.probe else {}

    def save_checkpoint(self) -> Path:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "method": self.spec.name,
            "params": params_to_dict(self.params),
            "backbone": self.model.backbone.spec.to_dict(),
            "data": self.data.describe(),
            "assets": self.data.serving_assets(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "progress": {"epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch},
            "max_steps": self.max_steps,
            "rng": rng_state(),
        }
        if save_atomically(payload, self.checkpoint_path, may_publish=self.hooks.may_publish_checkpoint):
            self.hooks.on_checkpoint(self.checkpoint_path, self.progress())
        return self.checkpoint_path

    def restore(self, path: Path) -> None:
        """Restore every stateful object from a checkpoint of this same run."""
        payload = load_payload(path, CHECKPOINT_FORMAT)
        if payload["method"] != self.spec.name or not self._same_params(payload["params"]):
            raise CheckpointError(f"{path} belongs to a different run (method or params differ)")
        if payload.get("max_steps") != self.max_steps:  # checkpoints from before the option have none
            raise CheckpointError(
                f"{path} belongs to a different run (max_steps {payload.get('max_steps')}, not {self.max_steps})"
            )
        if payload["data"]["num_items"] != len(self.data):
            raise CheckpointError(f"{path} was trained on {payload['data']['num_items']} items, not {len(self.data)}")
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        progress = payload["progress"]
        self.epoch, self.step, self.step_in_epoch = (
            progress["epoch"],
            progress["step"],
            progress["step_in_epoch"],
        )
        restore_rng_state(payload["rng"])

    def _same_params(self, stored: dict[str, Any]) -> bool:
        """Compared once resolved, so that a checkpoint written before a parameter existed (its default now)
        still resumes its run."""
        try:
            return params_to_dict(self.spec.validate(stored)) == params_to_dict(self.params)
        except ParamError:
            return False

    def export_encoder(self, path: Path) -> Path:
        return export_encoder(
            self.model, self.spec.name, path, modality=self.data.modality, assets=self.data.serving_assets()
        )

    def _formatted(self, view: Any) -> Any:
        """Image batches in the device's preferred memory layout; other modalities' batches as they are."""
        if isinstance(view, torch.Tensor) and view.ndim == 4:
            return view.contiguous(memory_format=self.memory_format)
        return view

    def _finish(self, status: Literal["completed", "canceled"], metrics: Metrics) -> TrainResult:
        if status == "canceled":
            self.save_checkpoint()
        return TrainResult(status, self.progress(), metrics, self.checkpoint_path)
