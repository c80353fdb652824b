"""Trainer(max_steps=...): a run cut short after a number of steps, with a schedule that spans them.

16 px digits, the tiny CNN, 3 steps per epoch and 3 epochs: 9 steps unless max_steps cuts the run earlier.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selfsup.errors import CheckpointError, SelfSupError
from selfsup.methods import get_method
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, load_payload
from selfsup.train.hooks import Progress
from selfsup.train.loop import Trainer
from tests.support.training import StepLog

NUM_ITEMS, BATCH, EPOCHS = 96, 32, 3
STEPS_PER_EPOCH = NUM_ITEMS // BATCH


@pytest.fixture(scope="module")
def params() -> Any:
    return get_method("simclr").validate(
        {"backbone": "tiny_cnn", "epochs": EPOCHS, "batch_size": BATCH, "warmup_epochs": 0, "seed": 3}
    )


@pytest.fixture(scope="module")
def images(digits16: np.ndarray) -> np.ndarray:
    return digits16[:NUM_ITEMS]


def _trainer(params: Any, images: np.ndarray, workdir: Path, hooks: StepLog, **kwargs: Any) -> Trainer:
    return Trainer("simclr", params, images, workdir=workdir, hooks=hooks, probe_size=0, **kwargs)


def test_a_run_stops_mid_epoch_after_max_steps(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    hooks = StepLog()
    result = _trainer(params, images, tmp_path, hooks, max_steps=4).fit()
    assert result.status == "completed"
    assert sorted(hooks.steps) == [1, 2, 3, 4]
    # Epoch 1 ended after its first step: the cut epoch still ends, with its checkpoint.
    assert hooks.epoch_ends == [Progress(1, EPOCHS, 3, 4), Progress(2, EPOCHS, 4, 4)]
    assert result.progress.fraction == 1.0
    assert load_payload(result.checkpoint_path, CHECKPOINT_FORMAT)["progress"] == {
        "epoch": 2,
        "step": 4,
        "step_in_epoch": 0,
    }


def test_the_schedule_decays_over_the_steps_taken(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    hooks = StepLog()
    _trainer(params, images, tmp_path, hooks, max_steps=4).fit()
    lrs = [hooks.steps[step]["lr"] for step in sorted(hooks.steps)]
    # Cosine from the peak to 0.1% of it over 4 steps, not over the 9 the epochs alone would take.
    assert lrs[0] == pytest.approx(params.lr) and lrs[-1] == pytest.approx(1e-3 * params.lr)
    assert lrs == sorted(lrs, reverse=True)


def test_max_steps_past_the_last_epoch_changes_nothing(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    plain, capped = StepLog(), StepLog()
    _trainer(params, images, tmp_path / "plain", plain).fit()
    result = _trainer(params, images, tmp_path / "capped", capped, max_steps=100).fit()
    assert result.progress == Progress(EPOCHS, EPOCHS, EPOCHS * STEPS_PER_EPOCH, EPOCHS * STEPS_PER_EPOCH)
    assert capped.steps.keys() == plain.steps.keys()
    for step, metrics in plain.steps.items():  # the same schedule and the same losses, to the bit
        assert (capped.steps[step]["lr"], capped.steps[step]["loss"]) == (metrics["lr"], metrics["loss"])


def test_fit_on_a_run_cut_short_does_nothing_more(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    _trainer(params, images, tmp_path, StepLog(), max_steps=4).fit()
    again = StepLog()
    result = _trainer(params, images, tmp_path, again, max_steps=4).fit()
    assert result.status == "completed" and result.progress == Progress(2, EPOCHS, 4, 4)
    assert again.steps == {} and again.epoch_ends == []


def test_a_crash_after_the_last_step_resumes_into_the_epoch_end(
    params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    # checkpoint_every_s=0 saves after every step; the crash follows the save of step 4, before the epoch ends.
    hooks = StepLog(crash_at_step=4)
    with pytest.raises(RuntimeError, match="died"):
        _trainer(params, images, tmp_path, hooks, max_steps=4, checkpoint_every_s=0).fit()
    resumed = StepLog()
    result = _trainer(params, images, tmp_path, resumed, max_steps=4).fit()
    assert result.status == "completed" and result.progress == Progress(2, EPOCHS, 4, 4)
    assert resumed.steps == {} and resumed.epoch_ends == [Progress(2, EPOCHS, 4, 4)]


def test_a_checkpoint_resumes_only_with_the_same_max_steps(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    _trainer(params, images, tmp_path, StepLog(), max_steps=4).fit()
    for other in (None, 5):
        with pytest.raises(CheckpointError, match="max_steps"):
            _trainer(params, images, tmp_path, StepLog(), max_steps=other).fit()


def test_max_steps_must_be_positive(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(SelfSupError, match="at least 1"):
        _trainer(params, images, tmp_path, StepLog(), max_steps=0)
