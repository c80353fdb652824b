"""Exported encoders (ONNX through onnxruntime, TorchScript, safetensors) give the vectors ``Encoder`` serves,
for image, text (whitened) and table models, at batch sizes and text lengths other than the ones traced."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch

from selfsup.encoder import Encoder
from selfsup.export import load_safetensors, model_card, to_onnx, to_safetensors, to_torchscript, tower_of
from selfsup.methods import get_method
from selfsup.tabular.data import TableData, encode_table
from selfsup.tabular.reading import read_table
from selfsup.tabular.schema import infer_schema
from selfsup.train.loop import Trainer
from tests.support.tables import csv_bytes, diabetes_columns
from tests.support.text import docstring_data

TOLERANCE = 1e-4


def trained(tmp: Path, method: str, params: dict[str, Any], data: Any) -> Encoder:
    spec = get_method(method).validate({"epochs": 1, "warmup_epochs": 0, **params})
    trainer = Trainer(method, spec, data, workdir=tmp, probe_size=0, max_steps=2)
    trainer.fit()
    return Encoder.load(trainer.export_encoder(tmp / "encoder.pt"))


@pytest.fixture(scope="module")
def image_model(digits16: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    return trained(tmp_path_factory.mktemp("image"), "vae", {"backbone": "tiny_cnn", "batch_size": 32}, digits16[:64])


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    params = {"preset": "tiny", "max_length": 32, "batch_size": 32}
    model = trained(tmp_path_factory.mktemp("text"), "simcse", params, docstring_data())
    assert model.whitening is not None  # SimCSE serves whitened: every format below must carry it
    return model


@pytest.fixture(scope="module")
def table_model(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    table = read_table(csv_bytes(diabetes_columns()), filename="diabetes.csv")
    schema = infer_schema(table, label_column=None)
    data = TableData(encode_table(table, schema), schema)
    return trained(tmp_path_factory.mktemp("table"), "scarf", {"batch_size": 64}, data)


def canonical_inputs(encoder: Encoder, count: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Inputs by graph input name, and the vectors ``Encoder`` gives them."""
    if encoder.modality == "image":
        images = np.random.default_rng(count).integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)
        return {"images": images}, encoder.embed(images)
    if encoder.modality == "text":
        texts = ["Return the event loop.", "Parse an email message into its parts, headers first.", "x"][:count]
        batch = encoder.prepare_texts(texts)
        arrays = {"input_ids": batch.input_ids.numpy(), "attention_mask": batch.attention_mask.numpy()}
        return arrays, encoder.embed_tokens(batch)
    rows = [{"age": 0.01 * i, "bmi": -0.02 * i} for i in range(count)]
    batch = encoder.prepare_rows(rows)
    return {"numeric": batch.numeric.numpy(), "categorical": batch.categorical.numpy()}, encoder.embed_table(batch)


MODELS = ["image_model", "text_model", "table_model"]


def onnx_vectors(path: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda inputs: session.run(None, inputs)[0]


def torchscript_vectors(path: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    module = torch.jit.load(str(path))

    @torch.inference_mode()
    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        return module(*(torch.from_numpy(a) for a in inputs.values())).numpy()

    return run


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("write", "runner"), [(to_onnx, onnx_vectors), (to_torchscript, torchscript_vectors)])
def test_exported_graphs_embed_as_the_encoder_does(
    model: str, write: Callable, runner: Callable, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    encoder: Encoder = request.getfixturevalue(model)
    run = runner(write(encoder, tmp_path / "model"))
    for count in (1, 3):  # traced at batch 2 (and 4 tokens): both axes are dynamic
        inputs, expected = canonical_inputs(encoder, count)
        got = run(inputs)
        gap = float(np.abs(got - expected).max())
        print(f"{model} {write.__name__} batch {count}: max abs diff {gap:.2e}")
        assert got.shape == expected.shape and gap <= TOLERANCE


@pytest.mark.parametrize("model", MODELS)
def test_safetensors_rebuild_the_same_encoder(model: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    encoder: Encoder = request.getfixturevalue(model)
    loaded = load_safetensors(to_safetensors(encoder, tmp_path))
    assert (loaded.method, loaded.modality, loaded.dim) == (encoder.method, encoder.modality, encoder.dim)
    expected = canonical_inputs(encoder, 3)[1]
    again = canonical_inputs(loaded, 3)[1]
    np.testing.assert_array_equal(again, expected)


def test_the_card_names_inputs_and_preprocessing(text_model: Encoder, image_model: Encoder) -> None:
    text = model_card(text_model, training={"metrics": {"rankme": 3.0}})
    assert text["metrics"] == {"rankme": 3.0} and text["method"] == "simcse"
    names = [spec["name"] for spec in text["towers"]["text"]["inputs"]]
    assert names == ["input_ids", "attention_mask"] and text["towers"]["text"]["preprocessing"]["max_length"] == 32
    image = model_card(image_model)["towers"]["image"]
    assert image["inputs"][0] == {"name": "images", "dtype": "uint8", "shape": ["batch", 16, 16, 3]}
    with pytest.raises(ValueError, match="towers image"):
        tower_of(image_model, "text")
