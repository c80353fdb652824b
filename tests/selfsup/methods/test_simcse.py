"""Unsupervised SimCSE: dropout as the only noise, the in-batch InfoNCE loss, and a short run on real text."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.encoder import Encoder
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.simcse import SimCSE, SimCSEParams, simcse_loss
from selfsup.train.loop import Trainer
from tests.support.text import docstring_corpus, docstring_data
from tests.support.training import LossRecorder

CPU = torch.device("cpu")


def tiny_simcse(**overrides: object) -> SimCSE:
    params = get_method("simcse").validate({"preset": "tiny", "max_length": 32, **overrides})
    torch.manual_seed(0)
    return SimCSE(params, docstring_data().create_encoder(params))


def test_simcse_is_registered_as_contrastive_for_text_with_typed_params() -> None:
    spec = get_method("simcse")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "contrastive",
        ("text",),
        SimCSEParams,
        SimCSE,
    )
    assert spec.validate({}) == SimCSEParams() and SimCSEParams().temperature == 0.05
    with pytest.raises(ParamError) as caught:
        spec.validate({"temperature": 0})
    assert [issue.loc for issue in caught.value.issues] == [("params", "temperature")]


def test_the_loss_matches_the_papers_formula() -> None:
    torch.manual_seed(0)
    first, second = torch.randn(6, 16), torch.randn(6, 16)
    tau = 0.05
    expected = 0.0
    for i in range(6):
        sims = [F.cosine_similarity(first[i], second[j], dim=0).item() / tau for j in range(6)]
        expected -= sims[i] - math.log(sum(math.exp(s) for s in sims))
    torch.testing.assert_close(simcse_loss(first, second, tau), torch.tensor(expected / 6))


def test_dropout_is_the_only_noise_between_the_two_encodings() -> None:
    method = tiny_simcse()
    batch = docstring_data().batch(np.arange(8), CPU)
    views = method.make_views(batch)
    assert all(torch.equal(view.input_ids, batch.input_ids) for view in views)
    torch.manual_seed(1)
    noisy = method.train().training_loss(views)
    with torch.no_grad():
        clean = method.eval().training_loss(views)
        pooled = method.backbone(batch)
    torch.testing.assert_close(clean, simcse_loss(pooled, pooled, 0.05))  # no dropout: the same two encodings
    # Dropout makes the positives differ. (Whether that raises the loss at one random init is a matter of the
    # draw: over 8 texts it lowered it once the vocabulary changed.)
    first, second = (method.train().backbone(batch) for _ in range(2))
    assert not torch.allclose(first, second) and not torch.allclose(noisy, clean)
    noisy.backward()
    assert all(p.grad is not None for p in method.backbone.parameters())


def test_a_few_epochs_on_real_docstrings_lower_the_loss_and_serve_what_was_trained(tmp_path: Path) -> None:
    params = get_method("simcse").validate(
        {"preset": "tiny", "max_length": 32, "epochs": 3, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 0}
    )
    hooks = LossRecorder()
    data = docstring_data()
    trainer = Trainer("simcse", params, data, workdir=tmp_path, hooks=hooks, probe_size=64)
    result = trainer.fit()
    assert result.status == "completed" and len(hooks.epoch_losses) == 3
    assert hooks.epoch_losses[-1] < 0.2 * hooks.epoch_losses[0], hooks.epoch_losses
    assert result.metrics["uniformity"] < -1.0  # the texts spread out instead of collapsing together

    served = Encoder.load(trainer.export_encoder(tmp_path / "encoder.pt"))
    indices = np.arange(0, 351, 50)
    vectors = served.embed_texts([docstring_corpus()[0][i] for i in indices])
    assert served.whitening is not None  # SimCSE serves its embedding whitened on the training set
    with torch.no_grad():
        trained = F.normalize(served.whitening(trainer.model.eval().embed(data.batch(indices, CPU))), dim=1)
    np.testing.assert_allclose(vectors, trained.numpy(), atol=1e-5)
