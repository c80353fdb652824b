"""GET /v1/models/{id}/export: the archives' ONNX graphs (through onnxruntime) and TorchScript modules give the
vectors the service's own embed route gives, for image, text and table models trained through the worker code;
safetensors rebuild the encoder; archives are built once, one at a time, a model is named by id or alias, and
another tenant's model is a 404."""

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch
from fastapi.testclient import TestClient
from tokenizers import Tokenizer

from app.exports.service import export_key
from selfsup.data.images import decode_image
from selfsup.export import load_safetensors
from selfsup.tabular.rows import RowPreprocessor
from selfsup.tabular.schema import TableSchema
from tests.conftest import new_key
from tests.support import ingest
from tests.support.images import digit_pngs
from tests.support.jobs import run_through_worker, train_image_model
from tests.support.tables import csv_bytes, diabetes_columns
from tests.support.text import docstring_corpus

TOLERANCE = 1e-4


def export(client: TestClient, model_id: str, fmt: str) -> zipfile.ZipFile:
    response = client.get(f"/v1/models/{model_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content))


def served(client: TestClient, model_id: str, body: dict[str, Any]) -> np.ndarray:
    response = client.post(f"/v1/models/{model_id}/embed", json=body)
    assert response.status_code == 200, response.text
    return np.array(response.json()["embeddings"], dtype=np.float32)


def check_graphs(client: TestClient, model_id: str, inputs: dict[str, np.ndarray], expected: np.ndarray) -> None:
    """Both graph formats of ``model_id`` on ``inputs`` (by input name) give ``expected``; the gaps are printed."""
    onnx = export(client, model_id, "onnx")
    session = onnxruntime.InferenceSession(onnx.read("model.onnx"), providers=["CPUExecutionProvider"])
    module = torch.jit.load(io.BytesIO(export(client, model_id, "torchscript").read("model.pt")))
    with torch.inference_mode():
        scripted = module(*(torch.from_numpy(a) for a in inputs.values())).numpy()
    for name, got in (("onnxruntime", session.run(None, inputs)[0]), ("torchscript", scripted)):
        gap = float(np.abs(got - expected).max())
        print(f"{model_id} {name}: max abs diff to the embed route {gap:.2e}")
        assert got.shape == expected.shape and gap <= TOLERANCE


def test_image_exports_embed_as_the_route_does(client: TestClient, tmp_path: Path) -> None:
    model_id = train_image_model(client)
    pngs = [data for _, data in digit_pngs(5)]
    expected = served(client, model_id, {"inputs": [base64.b64encode(p).decode() for p in pngs]})
    with client.app.state.exporter.building():  # type: ignore[attr-defined]  # as another request's build would
        busy = client.get(f"/v1/models/{model_id}/export")
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0
    card = json.loads(export(client, model_id, "onnx").read("card.json"))
    assert card["method"] == "simclr" and card["dataset"]["num_items"] == 64 and card["params"]["epochs"] == 1
    assert card["towers"]["image"]["preprocessing"]["image_size"] == 16
    images = np.stack([decode_image(p, 16) for p in pngs])  # decoded and resized as the service does
    check_graphs(client, model_id, {"images": images}, expected)
    export(client, model_id, "safetensors").extractall(tmp_path)
    np.testing.assert_allclose(load_safetensors(tmp_path).embed(images), expected, atol=1e-6)


def test_text_exports_embed_as_the_route_does(client: TestClient) -> None:
    documents, labels = docstring_corpus()
    lines = "\n".join(
        json.dumps({"text": d, "label": y}) for d, y in list(zip(documents, labels, strict=True))[::8][:240]
    )
    dataset = ingest.upload(
        client, {"file": ("docs.jsonl", lines.encode())}, {"name": "c", "modality": "text", "vocab_size": "400"}
    )
    params = {"preset": "tiny", "epochs": 1, "batch_size": 32, "max_length": 32}
    model_id = str(run_through_worker(client, dataset["id"], "simcse", params)["model_id"])
    texts = ["Return the event loop.", "Parse an email message into its headers and body parts."]
    expected = served(client, model_id, {"texts": texts})
    archive = export(client, model_id, "onnx")
    max_length = json.loads(archive.read("card.json"))["towers"]["text"]["preprocessing"]["max_length"]
    tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())  # as a user would, with tokenizers
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"))
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    check_graphs(client, model_id, {"input_ids": ids, "attention_mask": mask}, expected)


def test_table_exports_embed_as_the_route_does_and_stay_the_tenants(client: TestClient) -> None:
    fields = {"name": "t", "modality": "tabular"}
    dataset = ingest.upload(client, {"file": ("diabetes.csv", csv_bytes(diabetes_columns()))}, fields)
    model_id = str(run_through_worker(client, dataset["id"], "scarf", {"epochs": 1, "batch_size": 64})["model_id"])
    rows = [{"age": 0.03, "bmi": -0.01}, {"bmi": 0.05}, {}]
    expected = served(client, model_id, {"rows": rows})
    schema = json.loads(export(client, model_id, "onnx").read("schema.json"))
    batch = RowPreprocessor(TableSchema.from_dict(schema)).encode(rows)
    check_graphs(
        client, model_id, {"numeric": batch.numeric.numpy(), "categorical": batch.categorical.numpy()}, expected
    )
    stored = client.app.state.exporter.storage  # type: ignore[attr-defined]
    assert stored.exists(export_key(model_id, "onnx")) and not stored.exists(export_key(model_id, "safetensors"))
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "tables-latest"}).status_code == 200
    by_alias = export(client, "tables-latest", "onnx")
    assert by_alias.read("schema.json") == export(client, model_id, "onnx").read("schema.json")
    other = {"Authorization": f"Bearer {new_key('globex')}"}
    for name in (model_id, "tables-latest"):  # an alias names a model of its own tenant only
        missing = client.get(f"/v1/models/{name}/export", headers=other)
        assert missing.status_code == 404, missing.text
    assert client.get(f"/v1/models/{model_id}/export", params={"format": "pickle"}).status_code == 422
