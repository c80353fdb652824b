"""The trainer's data pipeline: batches read ahead on a loader thread, the loss read back every few steps, and
data small enough kept on the device. None of it may change a run's numbers.

16 px digits, the tiny CNN, 96 items in batches of 16: 6 steps per epoch, well under a second a run.
"""

import math
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.data.image_data import ImageData
from selfsup.data.image_store import HostImages, ResidentImages
from selfsup.errors import TrainingDiverged
from selfsup.methods import get_method
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, load_payload
from selfsup.train.hooks import Metrics, Progress, TrainingHooks
from selfsup.train.loop import Trainer

NUM_ITEMS, BATCH, EPOCHS = 96, 16, 2
STEPS_PER_EPOCH = NUM_ITEMS // BATCH


class Broken(Exception):
    pass


class Watch(TrainingHooks):
    """Every step's metrics and loss, which steps' losses were read together, and an optional cancel or fault."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at = stop_at
        self.step = 0
        self.metrics: dict[int, Metrics] = {}
        self.losses: dict[int, float] = {}
        self.reads: list[tuple[int, ...]] = []  # the steps of each read, in order
        self._reading: list[int] = []
        self.after_step: dict[int, Callable[[], object]] = {}  # step -> what to do once it is reported
        self.after_checkpoint: dict[int, Callable[[], object]] = {}  # step -> what to do once it is saved

    def on_loss(self, step: int, loss: float) -> None:
        self.losses[step] = loss
        self._reading.append(step)

    def on_step(self, progress: Progress, metrics: Metrics) -> None:
        self._read_done()
        self.step = progress.step
        self.metrics[progress.step] = metrics
        self.after_step.get(progress.step, lambda: None)()

    def on_epoch_end(self, progress: Progress, metrics: Metrics) -> None:
        self._read_done()

    def on_checkpoint(self, path: Path, progress: Progress) -> None:
        self._read_done()
        self.after_checkpoint.get(progress.step, lambda: None)()

    def should_stop(self) -> bool:
        return self.stop_at is not None and self.step >= self.stop_at

    def _read_done(self) -> None:
        """Losses read between two other hooks' calls were read at once."""
        if self._reading:
            self.reads.append(tuple(self._reading))
            self._reading = []


class RecordedImages(ImageData):
    """Image data that records every batch it gathers (on whichever thread gathers it) and can fail one."""

    def __init__(self, images: np.ndarray, fail_at: int | None = None) -> None:
        super().__init__(images)
        self.gathered: list[np.ndarray] = []
        self.threads: set[str] = set()
        self.fail_at = fail_at

    def gather(self, indices: np.ndarray) -> torch.Tensor:
        if len(self.gathered) == self.fail_at:
            raise Broken("the memory map went away")
        self.gathered.append(indices)
        self.threads.add(threading.current_thread().name)
        return super().gather(indices)


@pytest.fixture(scope="module")
def params() -> Any:
    return get_method("simclr").validate(
        {"backbone": "tiny_cnn", "epochs": EPOCHS, "batch_size": BATCH, "warmup_epochs": 0, "seed": 11}
    )


@pytest.fixture(scope="module")
def images(digits16: np.ndarray) -> np.ndarray:
    return digits16[:NUM_ITEMS]


def _trainer(params: Any, data: Any, workdir: Path, hooks: TrainingHooks, **kwargs: Any) -> Trainer:
    return Trainer("simclr", params, data, workdir=workdir, hooks=hooks, probe_size=0, **kwargs)


def _loader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "selfsup-prefetch"]


def _assert_same_run(first: tuple[Trainer, Watch], second: tuple[Trainer, Watch]) -> None:
    assert first[1].losses == second[1].losses  # to the bit
    for key, value in first[0].model.state_dict().items():
        assert torch.equal(second[0].model.state_dict()[key], value), key


@pytest.fixture(scope="module")
def inline(params: Any, images: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Watch]:
    """The reference: every batch loaded on the training thread when its step starts, every loss read."""
    data, hooks = RecordedImages(images), Watch()
    trainer = _trainer(params, data, tmp_path_factory.mktemp("inline"), hooks, prefetch=0, loss_every=1)
    trainer.fit()
    return trainer, hooks


def test_reading_ahead_keeps_the_order_and_changes_nothing(
    inline: tuple[Trainer, Watch], params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    data, hooks = RecordedImages(images), Watch()
    trainer = _trainer(params, data, tmp_path, hooks, prefetch=3)
    trainer.fit()
    expected = [indices for epoch in range(EPOCHS) for indices in trainer.batches.epoch(epoch)]
    assert len(data.gathered) == len(expected) == EPOCHS * STEPS_PER_EPOCH
    for gathered, wanted in zip(data.gathered, expected, strict=True):
        np.testing.assert_array_equal(gathered, wanted)
    assert data.threads == {"selfsup-prefetch"}
    assert inline[0].data.threads == {threading.main_thread().name}  # type: ignore[attr-defined]
    _assert_same_run(inline, (trainer, hooks))
    assert _loader_threads() == []


def test_the_loss_is_read_every_few_steps_and_at_the_epoch_end(
    inline: tuple[Trainer, Watch], params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    hooks = Watch()
    result = _trainer(params, images, tmp_path, hooks, loss_every=4).fit()
    # the first step (so that the first report has a loss), then every 4 steps, and at each epoch's end
    assert hooks.reads == [(1,), (2, 3, 4, 5), (6,), (7, 8, 9, 10), (11, 12)]
    assert hooks.losses == inline[1].losses
    reported = {1: 1, 2: 1, 3: 1, 4: 1, 5: 5, 6: 5, 7: 6, 8: 6, 9: 6, 10: 10, 11: 10, 12: 10}
    for step, metrics in hooks.metrics.items():  # each step reports the latest loss read by then
        assert metrics["loss"] == hooks.losses[reported[step]], step
        assert metrics.keys() == {"loss", "lr", "samples_per_second", "data_wait_fraction"}
        assert 0 <= metrics["data_wait_fraction"] <= 1 and metrics["samples_per_second"] > 0
    assert result.metrics["loss"] == hooks.losses[12]
    assert result.metrics["epoch_loss"] == pytest.approx(np.mean([hooks.losses[s] for s in range(7, 13)]))


def test_a_nan_loss_is_caught_within_the_read_interval(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    hooks = Watch()
    trainer = _trainer(params, images, tmp_path, hooks, loss_every=4)
    hooks.after_step[2] = lambda: trainer.model.backbone.trunk.features[0].weight.data.fill_(math.nan)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 3"):
        trainer.fit()
    assert trainer.step == 5  # read with steps 2 to 5
    assert not trainer.checkpoint_path.exists()
    assert _loader_threads() == []


def test_a_checkpoint_never_keeps_weights_a_nan_loss_made(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    hooks = Watch()
    trainer = _trainer(params, images, tmp_path, hooks, loss_every=4, checkpoint_every_s=0)  # saves every step
    hooks.after_checkpoint[2] = lambda: trainer.model.backbone.trunk.features[0].weight.data.fill_(math.nan)
    with pytest.raises(TrainingDiverged, match="at step 3"):
        trainer.fit()
    payload = load_payload(trainer.checkpoint_path, CHECKPOINT_FORMAT)
    assert payload["progress"]["step"] == 2  # the save after step 3 read its loss first, and refused
    assert all(torch.isfinite(value).all() for value in payload["model"].values() if value.is_floating_point())


def test_an_error_on_the_loader_thread_is_raised_in_fit(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    data = RecordedImages(images, fail_at=4)
    trainer = _trainer(params, data, tmp_path, Watch())
    with pytest.raises(Broken, match="memory map"):
        trainer.fit()
    assert trainer.step == 4  # the batches gathered before it were trained on, in order
    assert _loader_threads() == []


def test_no_loader_thread_outlives_a_cancel(
    inline: tuple[Trainer, Watch], params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    first = _trainer(params, images, tmp_path, Watch(stop_at=4))
    assert first.fit().status == "canceled"
    assert _loader_threads() == []
    hooks = Watch()
    resumed = _trainer(params, images, tmp_path, hooks)
    assert resumed.fit().status == "completed"
    assert set(hooks.losses) == set(range(5, EPOCHS * STEPS_PER_EPOCH + 1))
    assert hooks.losses == {step: loss for step, loss in inline[1].losses.items() if step > 4}
    assert _loader_threads() == []


def test_data_that_fits_the_budget_is_kept_on_the_device(
    inline: tuple[Trainer, Watch], params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    data, hooks = ImageData(images), Watch()
    trainer = _trainer(params, data, tmp_path, hooks, resident_budget=images.nbytes)
    assert isinstance(data.store, ResidentImages) and data.store.images.device == trainer.device
    trainer.fit()
    _assert_same_run(inline, (trainer, hooks))


def test_data_over_the_budget_stays_where_it_is(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    data = ImageData(images)
    _trainer(params, data, tmp_path, Watch(), resident_budget=images.nbytes - 1)
    assert isinstance(data.store, HostImages) and data.store.images is images
    default = ImageData(images)
    _trainer(params, default, tmp_path, Watch())  # on CPU the page cache already holds the array
    assert isinstance(default.store, HostImages)


def test_resident_and_host_images_give_the_same_batches(images: np.ndarray) -> None:
    host, resident = ImageData(images), ImageData(images)
    assert resident.keep_on(torch.device("cpu"), images.nbytes)
    indices = np.array([0, 3, 17, 95])
    assert torch.equal(host.batch(indices, torch.device("cpu")), resident.batch(indices, torch.device("cpu")))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_copy_stream_and_resident_data_change_nothing(
    params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    ways = {
        "inline, from host": {"prefetch": 0, "resident_budget": 0},
        "ahead, from host": {"resident_budget": 0},  # pinned memory and the copy stream
        "ahead, resident": {},
    }
    losses = {}
    for name, kwargs in ways.items():
        hooks = Watch()
        data = ImageData(images)
        _trainer(replace(params, epochs=1), data, tmp_path / name, hooks, device="cuda", **kwargs).fit()
        assert isinstance(data.store, ResidentImages) == (name == "ahead, resident")
        losses[name] = torch.tensor([hooks.losses[step] for step in sorted(hooks.losses)])
    for name in ways:  # cuDNN need not be deterministic: close, not equal
        torch.testing.assert_close(losses[name], losses["inline, from host"], rtol=1e-3, atol=1e-4)
