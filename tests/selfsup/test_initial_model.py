"""The evaluation's floor is the run's own start: ``Trainer.initial_model()`` holds exactly the weights the Trainer
began with, after training and after a resume, and building it leaves the run's random stream alone."""

from pathlib import Path

import numpy as np
import torch

from selfsup.methods import get_method
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _assert_same(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert state.keys() == expected.keys()
    for name, value in state.items():
        assert torch.equal(value, expected[name]), name


def test_initial_model_is_the_state_the_trainer_started_from(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("byol").validate({"backbone": "tiny_cnn", "epochs": 2, "batch_size": 32, "seed": 7})
    images = digits16[:64]
    trainer = Trainer("byol", params, images, workdir=tmp_path, probe_size=0, hooks=LossRecorder(stop_at_epoch=1))
    started = _state(trainer.model)
    assert trainer.fit().status == "canceled"
    trained = _state(trainer.model)
    assert not torch.equal(trained["backbone.trunk.features.0.weight"], started["backbone.trunk.features.0.weight"])

    stream = torch.random.get_rng_state()
    _assert_same(_state(trainer.initial_model()), started)
    assert torch.equal(torch.random.get_rng_state(), stream), "building it drew from the run's random stream"

    resumed = Trainer("byol", params, images, workdir=tmp_path, probe_size=0)
    assert resumed.fit().status == "completed"
    _assert_same(_state(resumed.initial_model()), started)  # a resumed run still knows where it began


def test_another_seed_starts_elsewhere(digits16: np.ndarray, tmp_path: Path) -> None:
    states = []
    for seed in (0, 1):
        params = get_method("simclr").validate({"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32, "seed": seed})
        states.append(_state(Trainer("simclr", params, digits16[:32], workdir=tmp_path / str(seed)).initial_model()))
    assert not torch.equal(states[0]["backbone.trunk.features.0.weight"], states[1]["backbone.trunk.features.0.weight"])
