"""The training loop: checkpoints that restore every stateful object, and resumes that change nothing.

Every run here is 16 px digits, the tiny CNN and 3 steps per epoch: a whole run takes well under a second.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.errors import CheckpointError
from selfsup.methods import get_method
from selfsup.params import params_to_dict
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, load_payload
from selfsup.train.hooks import Metrics, Progress, TrainingHooks
from selfsup.train.loop import Trainer, TrainResult

NUM_ITEMS, BATCH, EPOCHS = 96, 32, 2
STEPS_PER_EPOCH = NUM_ITEMS // BATCH
REPRESENTATION_KEYS = {"rankme", "alignment", "uniformity", "embedding_std", "mean_cosine", "participation_ratio"}


class SimulatedCrash(Exception):
    """Stands in for a worker that dies right after a checkpoint reached the disk."""


class Recorder(TrainingHooks):
    """Records every step's loss as it is read; stops or crashes when a condition on the latest progress holds."""

    def __init__(
        self,
        stop_when: Callable[[Progress], bool] | None = None,
        crash_after_checkpoint: Callable[[Progress], bool] | None = None,
    ) -> None:
        self.stop_when, self.crash_after_checkpoint = stop_when, crash_after_checkpoint
        self.latest: Progress | None = None
        self.losses: dict[int, float] = {}  # global step -> loss
        self.epoch_ends: list[tuple[Progress, Metrics]] = []
        self.checkpoints: list[Progress] = []

    def on_step(self, progress: Progress, metrics: Metrics) -> None:
        self.latest = progress

    def on_loss(self, step: int, loss: float) -> None:
        self.losses[step] = loss

    def on_epoch_end(self, progress: Progress, metrics: Metrics) -> None:
        self.latest = progress
        self.epoch_ends.append((progress, metrics))

    def on_checkpoint(self, path: Path, progress: Progress) -> None:
        assert path.is_file()
        self.checkpoints.append(progress)
        if self.crash_after_checkpoint and self.crash_after_checkpoint(progress):
            self.crash_after_checkpoint = None
            raise SimulatedCrash(progress)

    def should_stop(self) -> bool:
        return bool(self.stop_when and self.latest and self.stop_when(self.latest))


@dataclass
class Run:
    result: TrainResult
    hooks: Recorder
    trainer: Trainer


@pytest.fixture(scope="module")
def params() -> Any:
    return get_method("simclr").validate(
        {"backbone": "tiny_cnn", "epochs": EPOCHS, "batch_size": BATCH, "warmup_epochs": 0.5, "seed": 7}
    )


@pytest.fixture(scope="module")
def images(digits16: np.ndarray) -> np.ndarray:
    return digits16[:NUM_ITEMS]


def _run(params: Any, images: np.ndarray, workdir: Path, hooks: Recorder, **kwargs: Any) -> Run:
    trainer = Trainer("simclr", params, images, workdir=workdir, hooks=hooks, **kwargs)
    return Run(trainer.fit(), hooks, trainer)


@pytest.fixture(scope="module")
def straight(params: Any, images: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The reference: one uninterrupted run."""
    return _run(params, images, tmp_path_factory.mktemp("straight"), Recorder())


def _assert_same_state(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-6, atol=1e-7, msg=key)


def _assert_resumed_like_straight(first: Run, resumed: Run, straight: Run, resume_step: int) -> None:
    assert set(first.hooks.losses) == set(range(1, resume_step + 1))
    assert set(resumed.hooks.losses) == set(range(resume_step + 1, EPOCHS * STEPS_PER_EPOCH + 1))
    steps = sorted(straight.hooks.losses)
    before = [s for s in steps if s <= resume_step]
    after = [s for s in steps if s > resume_step]
    torch.testing.assert_close(
        torch.tensor([first.hooks.losses[s] for s in before], dtype=torch.float64),
        torch.tensor([straight.hooks.losses[s] for s in before], dtype=torch.float64),
        rtol=1e-6,
        atol=1e-7,
    )
    torch.testing.assert_close(
        torch.tensor([resumed.hooks.losses[s] for s in after], dtype=torch.float64),
        torch.tensor([straight.hooks.losses[s] for s in after], dtype=torch.float64),
        rtol=1e-6,
        atol=1e-7,
    )
    assert resumed.result.status == "completed"
    assert resumed.result.progress == straight.result.progress
    _assert_same_state(resumed.trainer.model.state_dict(), straight.trainer.model.state_dict())


def test_straight_run_completes(straight: Run) -> None:
    result = straight.result
    assert result.status == "completed"
    assert result.progress == Progress(epoch=EPOCHS, epochs=EPOCHS, step=6, total_steps=6)
    assert result.progress.fraction == 1.0
    assert sorted(straight.hooks.losses) == [1, 2, 3, 4, 5, 6]
    assert result.checkpoint_path.is_file()
    assert {"loss", "lr", "samples_per_second", "data_wait_fraction", "epoch_loss"} <= result.metrics.keys()
    assert 0 <= result.metrics["data_wait_fraction"] <= 1


def test_epoch_loss_is_the_mean_of_the_epoch_steps(straight: Run) -> None:
    assert [p.epoch for p, _ in straight.hooks.epoch_ends] == [1, 2]
    for progress, metrics in straight.hooks.epoch_ends:
        steps = range((progress.epoch - 1) * STEPS_PER_EPOCH + 1, progress.epoch * STEPS_PER_EPOCH + 1)
        assert metrics["epoch_loss"] == pytest.approx(np.mean([straight.hooks.losses[s] for s in steps]))


def test_epoch_end_metrics_measure_the_representation(straight: Run) -> None:
    for _, metrics in straight.hooks.epoch_ends:
        assert metrics.keys() >= REPRESENTATION_KEYS
        assert 1 <= metrics["rankme"] <= NUM_ITEMS  # the probe is every item here: min(512, 96)
        assert 0 <= metrics["alignment"] <= 4 and -4 <= metrics["uniformity"] <= 0
        assert 0 < metrics["embedding_std"] < 1
        assert -1 <= metrics["mean_cosine"] <= 1 and 1 <= metrics["participation_ratio"] <= NUM_ITEMS
    assert straight.result.metrics.keys() >= REPRESENTATION_KEYS
    assert straight.trainer.evaluate_representation() == {
        key: straight.result.metrics[key] for key in REPRESENTATION_KEYS
    }


def test_evaluating_the_representation_changes_nothing(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    trainer = Trainer("simclr", params, images, workdir=tmp_path)
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    rng = torch.get_rng_state()
    trainer.model.train()
    first = trainer.evaluate_representation()
    assert trainer.model.training and torch.equal(torch.get_rng_state(), rng)
    _assert_same_state(trainer.model.state_dict(), state)
    assert trainer.evaluate_representation() == first


def test_probe_size_zero_turns_the_evaluation_off(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    hooks = Recorder()
    trainer = Trainer("simclr", replace(params, epochs=1), images, workdir=tmp_path, hooks=hooks, probe_size=0)
    result = trainer.fit()
    assert trainer.evaluate_representation() == {}
    assert not REPRESENTATION_KEYS & (hooks.epoch_ends[0][1].keys() | result.metrics.keys())


def test_reported_lr_is_the_one_each_step_used(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    trainer = Trainer("simclr", params, images, workdir=tmp_path)
    lrs = []
    for epoch in range(EPOCHS):
        for batch in trainer.batches.epoch(epoch):
            used = trainer.optimizer.param_groups[0]["lr"]
            lrs.append(trainer.train_step(batch)["lr"])
            assert lrs[-1] == used
    # warmup_epochs=0.5 -> 2 warm-up steps from 10% of the peak, then a cosine decay to 0.1% of it.
    assert lrs[0] == pytest.approx(0.55 * params.lr) and lrs[1] == pytest.approx(params.lr)
    assert lrs[1:] == sorted(lrs[1:], reverse=True) and lrs[-1] == pytest.approx(1e-3 * params.lr)


def test_checkpoint_describes_the_run(straight: Run, params: Any) -> None:
    payload = load_payload(straight.result.checkpoint_path, CHECKPOINT_FORMAT)
    assert payload["method"] == "simclr"
    assert payload["params"] == params_to_dict(params)
    assert payload["backbone"] == {"name": "tiny_cnn", "image_size": 16, "small_stem": True}
    assert payload["data"] == {"modality": "image", "num_items": NUM_ITEMS, "image_size": 16}
    assert payload["assets"] == {}
    assert payload["progress"] == {"epoch": EPOCHS, "step": 6, "step_in_epoch": 0}


def test_checkpoint_round_trip_restores_every_stateful_object(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    first = _run(params, images, tmp_path, Recorder(stop_when=lambda p: p.step == 2))
    assert first.result.status == "canceled"
    rng_after_save = torch.get_rng_state()
    fresh = Trainer("simclr", params, images, workdir=tmp_path)
    assert not torch.equal(  # the comparison below is not trivially true
        fresh.model.backbone.trunk.features[0].weight, first.trainer.model.backbone.trunk.features[0].weight
    )
    fresh.restore(first.result.checkpoint_path)
    _assert_same_state(fresh.model.state_dict(), first.trainer.model.state_dict())
    restored_opt, saved_opt = fresh.optimizer.state_dict(), first.trainer.optimizer.state_dict()
    assert restored_opt["param_groups"] == saved_opt["param_groups"]
    assert restored_opt["state"].keys() == saved_opt["state"].keys()
    for index, state in saved_opt["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(restored_opt["state"][index][name], value, rtol=0, atol=0)
    assert fresh.scheduler.state_dict() == first.trainer.scheduler.state_dict()
    assert fresh.progress() == first.trainer.progress() == Progress(0, EPOCHS, 2, 6)
    assert fresh.step_in_epoch == first.trainer.step_in_epoch == 2
    assert torch.equal(torch.get_rng_state(), rng_after_save)


def test_resume_after_a_stop_at_an_epoch_boundary(
    straight: Run, params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    # should_stop is polled before each step, so this stops before the first step of epoch 1.
    first = _run(params, images, tmp_path, Recorder(stop_when=lambda p: p.epoch == 1))
    assert first.result.status == "canceled"
    assert first.result.progress == Progress(1, EPOCHS, STEPS_PER_EPOCH, 6)
    resumed = _run(params, images, tmp_path, Recorder())
    _assert_resumed_like_straight(first, resumed, straight, STEPS_PER_EPOCH)


@pytest.mark.parametrize("stop_after", [1, 2, 4, 5])
def test_cancel_mid_epoch_checkpoints_and_resumes_identically(
    straight: Run, params: Any, images: np.ndarray, tmp_path: Path, stop_after: int
) -> None:
    first = _run(params, images, tmp_path, Recorder(stop_when=lambda p: p.step == stop_after))
    assert first.result.status == "canceled"
    assert first.hooks.checkpoints[-1].step == stop_after  # the cancel itself wrote a checkpoint
    progress = load_payload(first.result.checkpoint_path, CHECKPOINT_FORMAT)["progress"]
    assert progress == {
        "epoch": stop_after // STEPS_PER_EPOCH,
        "step": stop_after,
        "step_in_epoch": stop_after % STEPS_PER_EPOCH,
    }
    resumed = _run(params, images, tmp_path, Recorder())
    _assert_resumed_like_straight(first, resumed, straight, stop_after)


@pytest.mark.parametrize("crash_step", [2, 3, 6])
def test_resume_after_a_crash_following_a_periodic_checkpoint(
    straight: Run, params: Any, images: np.ndarray, tmp_path: Path, crash_step: int
) -> None:
    # checkpoint_every_s=0 saves after every step; the crash hits right after the save at crash_step,
    # before the loop's own end-of-epoch checkpoint when crash_step ends an epoch.
    hooks = Recorder(crash_after_checkpoint=lambda p: p.step == crash_step)
    trainer = Trainer("simclr", params, images, workdir=tmp_path, hooks=hooks, checkpoint_every_s=0)
    with pytest.raises(SimulatedCrash):
        trainer.fit()
    first = Run(TrainResult("canceled", trainer.progress(), {}, trainer.checkpoint_path), hooks, trainer)
    resumed = _run(params, images, tmp_path, Recorder())
    _assert_resumed_like_straight(first, resumed, straight, crash_step)


def test_fit_on_a_finished_run_does_nothing_more(straight: Run, params: Any, images: np.ndarray) -> None:
    again = _run(params, images, straight.result.checkpoint_path.parent, Recorder())
    assert again.result.status == "completed"
    assert again.result.progress == straight.result.progress
    assert again.hooks.losses == {}
    _assert_same_state(again.trainer.model.state_dict(), straight.trainer.model.state_dict())


def test_restore_refuses_a_checkpoint_of_another_run(
    straight: Run, params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    path = straight.result.checkpoint_path
    for other_params, other_images in [
        (replace(params, lr=params.lr / 2), images),
        (replace(params, seed=params.seed + 1), images),
        (params, images[: NUM_ITEMS - BATCH]),
    ]:
        trainer = Trainer("simclr", other_params, other_images, workdir=tmp_path)
        with pytest.raises(CheckpointError):
            trainer.restore(path)
    other = Trainer("simclr", replace(params, epochs=EPOCHS + 1), images, workdir=path.parent)
    with pytest.raises(CheckpointError, match="different run"):
        other.fit()  # fit resumes from the workdir, and must refuse rather than mix two runs


def test_a_checkpoint_from_before_a_parameter_existed_resumes_its_run(
    straight: Run, params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    """Params are compared once resolved: ``pretrained`` came later, and its default (None) is what an older
    checkpoint meant."""
    payload = load_payload(straight.result.checkpoint_path, CHECKPOINT_FORMAT)
    del payload["params"]["pretrained"]
    older = tmp_path / "older.pt"
    torch.save(payload, older)
    trainer = Trainer("simclr", params, images, workdir=tmp_path)
    trainer.restore(older)
    assert trainer.progress() == straight.result.progress


def test_a_checkpoint_of_another_architecture_is_refused_by_name(
    straight: Run, params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    """Same params, other shapes: what a run checkpointed before its backbone was widened looks like now."""
    payload = load_payload(straight.result.checkpoint_path, CHECKPOINT_FORMAT)
    key = next(key for key, value in payload["model"].items() if value.ndim == 4)  # the first conv
    payload["model"][key] = torch.zeros(payload["model"][key].shape[0] // 2, *payload["model"][key].shape[1:])
    narrower = tmp_path / "narrower.pt"
    torch.save(payload, narrower)
    with pytest.raises(CheckpointError, match="other shapes"):
        Trainer("simclr", params, images, workdir=tmp_path).restore(narrower)


def test_restore_refuses_files_that_are_not_checkpoints(
    straight: Run, params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    trainer = Trainer("simclr", params, images, workdir=tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        trainer.restore(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        trainer.restore(garbage)
    encoder = straight.trainer.export_encoder(tmp_path / "encoder.pt")
    with pytest.raises(CheckpointError, match="is not a"):
        trainer.restore(encoder)


def test_fewer_items_than_a_batch_still_train(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    result = Trainer("simclr", replace(params, epochs=2), images[:10], workdir=tmp_path).fit()
    assert result.status == "completed" and result.progress.step == 2
