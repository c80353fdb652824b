"""The training loop: read it top to bottom in :meth:`Trainer.fit`."""

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.data.batches import EpochBatches
from selfsup.data.image_data import as_training_data
from selfsup.device import autocast_for, keep_freed_memory, memory_format_for, pick_device, resident_budget
from selfsup.errors import ParamError, SelfSupError, TrainingDiverged
from selfsup.eval import DEFAULT_PROBE_SIZE, RepresentationProbe
from selfsup.methods import MethodSpec, get_method
from selfsup.methods.base import SSLMethod
from selfsup.params import MAX_EPOCHS, params_to_dict
from selfsup.train.budget import BudgetPlan, StepBudget, step_timing
from selfsup.train.checkpoint import (
    CHECKPOINT_FORMAT,
    load_payload,
    restore_rng_state,
    rng_state,
    save_atomically,
)
from selfsup.train.distributed import Ranks
from selfsup.train.export import export_encoder
from selfsup.train.hooks import Metrics, Progress, TrainingHooks
from selfsup.train.memory import out_of_memory_as_error
from selfsup.train.optim import build_optimizer, build_schedule, clip_gradients, set_weight_decay
from selfsup.train.prefetch import DEFAULT_DEPTH, Prefetcher, staging_for
from selfsup.train.readout import DEFAULT_LOSS_EVERY, StepReadout
from selfsup.train.run_payload import check_same_architecture, check_same_run, checkpoint_payload
from selfsup.train.start import build_method, initial_method
from selfsup.train.whiten import fit_served_whitening
from selfsup.whitening import Whitening

__all__ = ["TrainResult", "Trainer", "TrainingDiverged"]


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

    ``params.max_minutes`` bounds the run by time instead (see :mod:`selfsup.train.budget`): after its first
    steps the run fixes its epochs and steps once, stores them in its checkpoints and never plans again;
    until then :meth:`progress` shows 0 epochs and 0 steps to go. ``clock`` is where it reads seconds.

    ``ranks`` places this trainer among the processes of a run on ``params.devices`` devices (see
    :mod:`selfsup.train.distributed`; :func:`selfsup.train.launch.fit_on_devices` starts them): each takes its
    shard of every global batch, and rank 0 alone checkpoints and probes. A time budget is one device's: each
    rank would time its own steps and plan its own schedule, so the two do not combine.

    The rest say how the run is carried out, not what it computes. ``prefetch`` batches are gathered
    and moved to the device ahead of the step on a loader thread (0: each loaded when its step starts). The loss
    is read back from the device every ``loss_every`` steps (see :class:`~selfsup.train.readout.StepReadout`).
    Data that fits ``resident_budget`` bytes of device memory (by default a quarter of the free memory on CUDA,
    none on CPU) is kept there and gathered there. ``compile_step`` puts the loss through ``torch.compile`` (off:
    on CPU it made the tiny preset no faster, see bench/train_throughput.py ``--compile``).
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
        prefetch: int = DEFAULT_DEPTH,
        loss_every: int = DEFAULT_LOSS_EVERY,
        resident_budget: int | None = None,
        compile_step: bool = False,
        clock: Callable[[], float] = time.monotonic,
        ranks: Ranks | None = None,
    ) -> None:
        self.spec = get_method(method) if isinstance(method, str) else method
        self.params = params
        self.data = as_training_data(data)
        self.ranks = ranks or Ranks()
        self.device = self.ranks.device(pick_device(device))
        self.hooks = hooks or TrainingHooks()
        self.checkpoint_path = Path(workdir) / "checkpoint.pt"
        self.checkpoint_every_s = checkpoint_every_s
        self.memory_format = memory_format_for(self.device)
        if self.device.type == "cpu":
            keep_freed_memory()

        self._inputs = self._method_inputs(teacher)
        self.model = build_method(self.spec, params, self.data, self._inputs)
        self.model = self.model.to(self.device).to(memory_format=self.memory_format)
        self._join_ranks(params)
        if max_steps is not None and max_steps < 1:
            raise SelfSupError(f"max_steps must be at least 1, not {max_steps}")
        self.max_steps = max_steps
        minutes = getattr(params, "max_minutes", None)
        self.budget = StepBudget(minutes, clock=clock, sync=self._sync_device) if minutes is not None else None
        self._training_loss: Callable[[list[Any]], torch.Tensor] = self.ranks.loss_fn(
            self.model, torch.compile(self.model.training_loss) if compile_step else self.model.training_loss
        )
        self._keep_data_on_device(resident_budget)  # once the model is there: the budget is of what it left free
        self.staging, self.prefetch = staging_for(self.data, self.device), prefetch
        self.readout = StepReadout(loss_every)
        self.batches = self.ranks.shard(EpochBatches(len(self.data), params.batch_size, params.seed))
        self.optimizer = build_optimizer(self.model, params)
        self.scheduler = build_schedule(self.optimizer, params, len(self.batches), total_steps=self.total_steps)
        self.epoch, self.step, self.step_in_epoch = 0, 0, 0
        self.probe = RepresentationProbe(self.data, size=probe_size, seed=params.seed) if probe_size else None
        self._whitening: tuple[int, Whitening | None] | None = None  # (step fitted at, fit): see served_whitening

    def _method_inputs(self, teacher: Any) -> dict[str, Any]:
        """What the method is built with besides its params and encoder: a distillation method's teacher."""
        if self.spec.takes_teacher and teacher is None:
            raise SelfSupError(f"method {self.spec.name!r} learns from a teacher: pass teacher=Encoder.load(...)")
        if not self.spec.takes_teacher and teacher is not None:
            raise SelfSupError(f"method {self.spec.name!r} takes no teacher")
        return {"teacher": teacher.to(self.device)} if teacher is not None else {}

    def _join_ranks(self, params: Any) -> None:
        """A run on several devices is run by as many ranks; each readies its model for that (see ``Ranks``)."""
        devices = getattr(params, "devices", 1)
        if devices != self.ranks.world_size:
            raise SelfSupError(
                f"params ask for {devices} devices but this trainer is one of {self.ranks.world_size} ranks: "
                "start the ranks with selfsup.train.launch.fit_on_devices"
            )
        if devices > 1 and getattr(params, "max_minutes", None) is not None:
            raise SelfSupError("a max_minutes run trains on one device: each rank would plan its own schedule")
        self.ranks.prepare(self.model, params.seed)

    @property
    def epochs(self) -> int:
        """``params.epochs``, or a ``max_minutes`` run's planned epochs (until it has planned, the most allowed)."""
        if self.budget is None:
            return int(self.params.epochs)
        return self.budget.plan.epochs if self.budget.plan else MAX_EPOCHS

    @property
    def total_steps(self) -> int:
        planned = self.budget.plan if self.budget is not None else None
        every_epoch = planned.total_steps if planned else self.epochs * len(self.batches)
        return every_epoch if self.max_steps is None else min(every_epoch, self.max_steps)

    def initial_model(self) -> SSLMethod:
        """A fresh copy, on the CPU, of the model as this run started (its seed's init, or its pretrained start):
        the floor the evaluation's ``*_random_init`` scores measure. Built again, not kept, so it costs no memory
        while training; equal to the start however far the run has gone (see :mod:`selfsup.train.start`)."""
        return initial_method(self.spec, self.params, self.data, self._inputs)

    def progress(self) -> Progress:
        if self.budget is not None and self.budget.plan is None:
            return Progress(self.epoch, 0, self.step, 0)
        return Progress(self.epoch, self.epochs, self.step, self.total_steps)

    def fit(self) -> TrainResult:
        if self.checkpoint_path.is_file():
            self.restore(self.checkpoint_path)
        self.model.train()
        if self.budget is not None:
            self.budget.start()
        metrics: Metrics = {}
        last_save = time.monotonic()
        while self._work_left():
            with self._epoch_batches() as batches:
                for indices, staged in batches:
                    if self.ranks.any(self.hooks.should_stop()):
                        return self._finish("canceled", metrics)
                    with (
                        out_of_memory_as_error(batch_size=self.params.batch_size, device=self.device),
                        step_timing(self.budget),
                    ):
                        loss, lr = self._step(self.staging.receive(staged))
                    samples = len(indices) * self.ranks.world_size
                    metrics = self._record(loss, lr, samples=samples, waited_s=batches.last_wait_s)
                    self.hooks.on_step(self.progress(), metrics)
                    if self.budget is not None and self._budget_spent():
                        break
                    if self.ranks.main_says(time.monotonic() - last_save > self.checkpoint_every_s):
                        self.save_checkpoint()
                        last_save = time.monotonic()
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            self._read_losses()
            metrics = {**metrics, **self.readout.metrics, **self.readout.end_epoch()}
            self.save_checkpoint()
            last_save = time.monotonic()
            metrics = {**metrics, **self.evaluate_representation()}
            self.hooks.on_epoch_end(self.progress(), metrics)
        return self._finish("completed", metrics)

    def _work_left(self) -> bool:
        """Steps left to take, or an epoch whose steps are done but whose end (checkpoint, probe) is not: a
        crash can fall between the two."""
        return self.epoch < self.epochs and (self.step < self.total_steps or self.step_in_epoch > 0)

    def train_step(self, indices: np.ndarray) -> Metrics:
        """One step on the items at ``indices``, their batch loaded here and the loss read at once, for a step
        taken alone; :meth:`fit` loads ahead and reads the loss every ``loss_every`` steps."""
        self.readout.restart()
        started = time.perf_counter()
        batch = self.data.batch(indices, self.device)
        waited_s = time.perf_counter() - started
        loss, lr = self._step(batch)
        self.readout.add(self.step, loss, samples=len(indices), waited_s=waited_s)
        self._read_losses()
        return {**self.readout.metrics, "lr": lr}

    def _epoch_batches(self) -> Prefetcher[np.ndarray, Any]:
        """The epoch's index batches left to do, in order, each gathered and on its way to the device ahead."""
        batches = self.batches.epoch(self.epoch, skip=self.step_in_epoch)
        self.readout.restart()
        return Prefetcher(
            itertools.islice(batches, self.total_steps - self.step), self.staging.stage, depth=self.prefetch
        )

    def _budget_spent(self) -> bool:
        """A ``max_minutes`` run plans once its first steps are timed, and then ends the epoch under way when
        the planned steps are done (that epoch's batches were counted out before its end was known). On
        planning, the schedule spans the plan from the first step, and the plan is checkpointed at once, so
        that no later checkpoint lacks it."""
        assert self.budget is not None
        planned = self.budget.plan_once_measured(
            done_steps=self.step,
            done_epochs=self.epoch,
            steps_per_epoch=len(self.batches),
            epoch_end=lambda: (self.evaluate_representation(), self.save_checkpoint()),
        )
        if planned:
            self.scheduler = build_schedule(
                self.optimizer, self.params, len(self.batches), total_steps=self.total_steps, at_step=self.step
            )
            self.save_checkpoint()
        return self.budget.plan is not None and self.step >= self.total_steps

    def _sync_device(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _step(self, batch: Any) -> tuple[torch.Tensor, float]:
        """One optimizer step on a batch on the device: the loss, not read back, and the lr the step used."""
        with torch.no_grad():
            views = self.model.make_views(batch)
        views = [self._formatted(view) for view in views]
        with autocast_for(self.device):
            loss = self._training_loss(views)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.model, self.model.grad_clip)
        set_weight_decay(self.optimizer, self.model.weight_decay_at(self.step, self.total_steps))
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses; the schedule then moves on
        self.optimizer.step()
        self.scheduler.step()
        self.step, self.step_in_epoch = self.step + 1, self.step_in_epoch + 1
        self.model.after_step(self.step, self.total_steps, steps_per_epoch=len(self.batches))
        return self.ranks.mean(loss), lr

    def _record(self, loss: torch.Tensor, lr: float, *, samples: int, waited_s: float) -> Metrics:
        """The step's metrics: its lr, and the loss and rates of the latest read, which this step may make."""
        self.readout.add(self.step, loss, samples=samples, waited_s=waited_s)
        if self.readout.due:
            self._read_losses()
        return {**self.readout.metrics, "lr": lr}

    def _read_losses(self) -> None:
        """Read the losses not yet read (raising TrainingDiverged on a NaN or infinite one) and report them."""
        for step, loss in self.readout.read():
            self.hooks.on_loss(step, loss)

    def _keep_data_on_device(self, budget: int | None) -> None:
        """Data that fits the budget lives on the device from now on: batches are gathered there, not copied."""
        self.data.keep_on(self.device, resident_budget(self.device) if budget is None else budget)

    def evaluate_representation(self) -> Metrics:
        """Label-free quality of the current embeddings on the probe items: ``rankme``, ``alignment``,
        ``uniformity``, ``embedding_std``, ``mean_cosine`` and ``participation_ratio`` (see
        :mod:`selfsup.eval.metrics`); empty when ``probe_size`` is 0.

        Runs in eval mode without gradients on a forked RNG, so it changes neither the model nor the run.
        """
        return self.probe.evaluate(self.model, self.device) if self.probe and self.ranks.is_main else {}

    def save_checkpoint(self) -> Path:
        """Write every stateful object to ``checkpoint_path`` atomically, after checking the losses not yet read:
        a checkpoint never keeps weights a NaN loss made. The ranks of a multi-device run all come here; rank 0
        writes, with every rank's random-number state."""
        self._read_losses()
        rank_rng = self.ranks.rng_states(rng_state())
        if not self.ranks.is_main:
            return self.checkpoint_path
        payload = checkpoint_payload(
            method=self.spec.name,
            params=self.params,
            model=self.model,
            data=self.data,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            progress={"epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch},
            max_steps=self.max_steps,
            budget_plan=self.budget.plan if self.budget else None,
            rank_rng=rank_rng,
        )
        if save_atomically(payload, self.checkpoint_path, may_publish=self.hooks.may_publish_checkpoint):
            self.hooks.on_checkpoint(self.checkpoint_path, self.progress())
        return self.checkpoint_path

    def restore(self, path: Path) -> None:
        """Restore every stateful object from a checkpoint of this same run."""
        payload = load_payload(path, CHECKPOINT_FORMAT)
        check_same_run(
            path,
            payload,
            method=self.spec.name,
            same_params=self._same_params(payload["params"]),
            max_steps=self.max_steps,
            num_items=len(self.data),
        )
        check_same_architecture(path, payload, self.model)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        progress = payload["progress"]
        self.epoch, self.step, self.step_in_epoch = (
            progress["epoch"],
            progress["step"],
            progress["step_in_epoch"],
        )
        restore_rng_state(self.ranks.own_rng(payload))
        if self.budget is not None and payload.get("budget_plan"):  # the plan stands: a resume never re-plans
            self.budget.plan = BudgetPlan.from_dict(payload["budget_plan"])

    def _same_params(self, stored: dict[str, Any]) -> bool:
        """Compared once resolved, so that a checkpoint written before a parameter existed (its default now)
        still resumes its run."""
        try:
            return params_to_dict(self.spec.validate(stored)) == params_to_dict(self.params)
        except ParamError:
            return False

    def served_whitening(self) -> Whitening | None:
        """The whitening the model serves with, if its method ``serve_whitened``: fitted on the data once per
        step reached (the job's evaluation and its export both ask for it, and must get the same one)."""
        if self._whitening is None or self._whitening[0] != self.step:
            self._whitening = (self.step, fit_served_whitening(self.model, self.data, self.device))
        return self._whitening[1]

    def export_encoder(self, path: Path) -> Path:
        """Write the servable encoder, with :meth:`served_whitening` where its method has one."""
        return export_encoder(
            self.model,
            self.spec.name,
            path,
            modality=self.data.modality,
            assets=self.data.serving_assets(),
            whitening=self.served_whitening(),
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
