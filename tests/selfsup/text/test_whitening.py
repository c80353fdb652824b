"""Served whitening of text embeddings: fitted at export on the training set, stored in the encoder file, applied
before the L2 normalization; encoders exported without it serve as before."""

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.encoder import Encoder
from selfsup.eval.representation import embed_items, evaluating
from selfsup.methods import get_method, list_methods
from selfsup.train.loop import Trainer
from selfsup.train.whiten import fit_whitening
from tests.support.text import docstring_data

TEXTS = ["Return the event loop.", "Parse an email message into its parts, headers first.", "Close the socket."]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Path]:
    """A tiny MLM trained a few steps on the docstring corpus, and its exported encoder."""
    tmp = tmp_path_factory.mktemp("mlm")
    params = get_method("mlm").validate(
        {"preset": "tiny", "max_length": 32, "batch_size": 32, "epochs": 1, "warmup_epochs": 0}
    )
    trainer = Trainer("mlm", params, docstring_data(), workdir=tmp, probe_size=0, max_steps=3)
    trainer.fit()
    return trainer, trainer.export_encoder(tmp / "encoder.pt")


def raw_features(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """The pooled features the encoder serves, before whitening and normalization."""
    with torch.inference_mode():
        return encoder.backbone(encoder.prepare_texts(texts)).float().numpy()


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_methods_that_serve_whitened_are_the_ones_the_bench_measured() -> None:
    whitened = {spec.name for spec in list_methods() if spec.method_cls.serve_whitened}
    assert whitened == {"mlm", "simcse", "tsdae", "scarf", "tabular_dae", "vime"}  # text, then tables


def test_the_fit_whitens_the_training_set(mlm_run: tuple[Trainer, Path]) -> None:
    trainer, _ = mlm_run
    whitening = fit_whitening(trainer.model, trainer.data, CPU)
    assert whitening is not None
    with evaluating(trainer.model):
        features = embed_items(trainer.model, trainer.data, np.arange(len(trainer.data)), device=CPU)
    whitened = whitening(features).double()  # every item: the corpus is under the fit's cap
    assert torch.allclose(whitened.mean(dim=0), torch.zeros(64, dtype=torch.float64), atol=1e-3)
    # Unit variance along every direction the features span, none along the rest: mean-pooled LayerNorm states
    # sum to about 0, so one direction of the 64 is empty. The whitened covariance is then a projector.
    raw = torch.linalg.eigvalsh(torch.cov(features.double().T))  # ascending
    spanned = int((raw > 1e-6 * raw.max()).sum())
    covariance = torch.cov(whitened.T)
    assert torch.allclose(covariance @ covariance, covariance, atol=1e-3)
    assert abs(float(torch.trace(covariance)) - spanned) < 0.01 and raw[-1] / raw[raw > 1e-6 * raw.max()][0] > 10


def test_too_few_items_for_the_dimensions_fit_nothing(mlm_run: tuple[Trainer, Path]) -> None:
    trainer, _ = mlm_run
    assert fit_whitening(trainer.model, trainer.data, CPU, max_items=64) is None  # 64 items, 64 dims
    assert fit_whitening(trainer.model, trainer.data, CPU, max_items=65) is not None


def test_the_stored_whitening_round_trips_and_is_served(mlm_run: tuple[Trainer, Path]) -> None:
    trainer, path = mlm_run
    encoder = Encoder.load(path)
    fitted = fit_whitening(trainer.model, trainer.data, CPU)
    assert encoder.whitening is not None and fitted is not None
    assert torch.equal(encoder.whitening.mean, fitted.mean) and torch.equal(encoder.whitening.matrix, fitted.matrix)
    mean, matrix = encoder.whitening.mean.numpy(), encoder.whitening.matrix.numpy()
    expected = unit((raw_features(encoder, TEXTS) - mean) @ matrix)
    served = encoder.embed_texts(TEXTS)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert not np.allclose(served, unit(raw_features(encoder, TEXTS)), atol=1e-2)  # whitening changed them


def test_an_encoder_exported_before_whitening_serves_as_before(mlm_run: tuple[Trainer, Path], tmp_path: Path) -> None:
    _, path = mlm_run
    payload = torch.load(path, weights_only=True)
    del payload["whitening"]  # what export wrote before the whitening existed
    torch.save(payload, tmp_path / "old.pt")
    old = Encoder.load(tmp_path / "old.pt")
    assert old.whitening is None
    np.testing.assert_allclose(old.embed_texts(TEXTS), unit(raw_features(old, TEXTS)), atol=1e-6)


def test_onnx_serving_gives_the_whitened_vectors_torch_serves(mlm_run: tuple[Trainer, Path]) -> None:
    """SELFSUP_SERVE_RUNTIME=onnx serves through these graphs: the whitening is folded into them."""
    from selfsup.export.runtime import onnx_embedders

    encoder = Encoder.load(mlm_run[1])
    batch = encoder.prepare_texts(TEXTS)
    np.testing.assert_allclose(onnx_embedders(encoder)["text"](batch), encoder.embed_tokens(batch), atol=1e-4)
