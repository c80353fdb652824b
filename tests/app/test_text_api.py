"""Text end to end over HTTP: every upload format, refusals that keep what is stored, a text job through the
real worker code, and embeddings of strings and token ids."""

import json
import shutil
from pathlib import Path

import numpy as np
import openai
import pytest
import torch
from fastapi.testclient import TestClient
from transformers import BertConfig, BertModel

from app.core.config import get_settings
from app.models.service import ENCODER_FILE, model_key
from selfsup.encoder import Encoder
from selfsup.text.tokenizer import train_tokenizer
from tests.support import ingest
from tests.support.images import digit_pngs, zip_bytes
from tests.support.jobs import run_through_worker
from tests.support.text import docstring_corpus

TINY = {"preset": "tiny", "epochs": 1, "batch_size": 32, "max_length": 32, "lr": 1e-3}


def upload(client: TestClient, data: bytes, filename: str, **form: str) -> dict:
    """Uploaded and ingested: the dataset as GET shows it, ready or failed."""
    fields = {"name": "corpus", "modality": "text", "vocab_size": "400", **form}
    return ingest.upload(client, {"file": (filename, data)}, fields)


def ready_datasets(client: TestClient) -> int:
    return sum(d["status"] == "ready" for d in client.get("/v1/datasets").json()["items"])


def corpus(count: int) -> tuple[list[str], list[str]]:
    documents, labels = docstring_corpus()
    step = max(1, len(documents) // count)  # spread over every package
    return list(documents[::step][:count]), list(labels[::step][:count])


def jsonl(documents: list[str], labels: list[str]) -> bytes:
    return "\n".join(json.dumps({"text": d, "label": y}) for d, y in zip(documents, labels, strict=True)).encode()


def test_txt_counts_empty_and_duplicate_lines(client: TestClient) -> None:
    documents, _ = corpus(20)
    lines = [*documents, "", "   ", documents[0], documents[1]]
    response = upload(client, "\n".join(lines).encode(), "notes.txt")
    assert response["status"] == "ready", response["error"]
    body = response
    assert body["modality"] == "text" and body["num_items"] == 20 and body["labels"] is None
    assert body["details"]["documents"] == {"read": 24, "empty": 2, "duplicates": 2, "kept": 20}
    assert 0 < body["details"]["vocab_size"] <= 400 and body["details"]["max_length"] <= 128


def test_jsonl_labels_and_csv_columns(client: TestClient) -> None:
    documents, labels = corpus(30)
    body = upload(client, jsonl(documents, labels), "docs.jsonl")
    assert body["num_items"] == 30 and body["labels"]["num_labeled"] == 30
    assert set(body["labels"]["classes"]) == set(labels)
    rows = "\n".join(f'"{d.replace(chr(34), chr(39))}",{y}' for d, y in zip(documents, labels, strict=True))
    response = upload(client, f"body,topic\n{rows}".encode(), "docs.csv", text_field="body", label_field="topic")
    assert response["status"] == "ready", response["error"]
    assert response["labels"]["num_labeled"] == 30


def test_a_single_label_is_reported_unusable_for_evaluation(client: TestClient) -> None:
    documents, _ = corpus(30)
    body = upload(client, jsonl(documents, ["same"] * len(documents)), "docs.jsonl")
    assert body["labels"]["classes"] == ["same"] and body["labels"]["usable_for_evaluation"] is False, body
    assert "only one class" in body["labels"]["note"]


def test_a_zip_of_text_files_is_one_corpus(client: TestClient) -> None:
    documents, labels = corpus(40)
    archive = zip_bytes(
        [("a.txt", "\n".join(documents[:20]).encode()), ("b.jsonl", jsonl(documents[20:], labels[20:]))]
    )
    response = upload(client, archive, "corpus.zip")
    assert response["status"] == "ready", response["error"]
    assert response["num_items"] == 40


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"caf\xe9 au lait\n", "latin1.txt", "latin1.txt"),
        (b"text,label\nfine,a\ntoo,many,cells\n", "ragged.csv", "line 3"),
        (b'{"text": "ok"}\n[1, 2]\n', "bad.jsonl", "line 2"),
        (b'{"text": 5}\n', "number.jsonl", "line 1"),
        (b"title\nhello\n", "nocolumn.csv", "text"),
        (b"\n  \n", "blank.txt", "no documents: 2 read, 2 empty"),
        (zip_bytes([("a.txt", b"hello"), ("b.png", b"\x89PNG")]), "mixed.zip", "'b.png' is not a data file"),
    ],
)
def test_malformed_text_is_refused_and_nothing_is_stored(
    client: TestClient, data: bytes, filename: str, expected: str
) -> None:
    failed = upload(client, data, filename)
    assert failed["status"] == "failed" and expected in failed["error"], failed
    assert ready_datasets(client) == 0


@pytest.fixture
def text_model(client: TestClient) -> str:
    documents, labels = corpus(240)
    dataset = upload(client, jsonl(documents, labels), "docs.jsonl")
    finished = run_through_worker(client, dataset["id"], "simcse", TINY)
    evaluation = finished["metrics"]
    assert {"knn_top1", "knn_top1_random_init", "rankme"} <= evaluation.keys(), evaluation
    return str(finished["model_id"])


def test_a_text_job_trains_and_serves_strings_and_token_ids(client: TestClient, text_model: str) -> None:
    model = client.get(f"/v1/models/{text_model}").json()
    assert model["modality"] == "text" and model["method"] == "simcse"
    texts = ["Return the event loop.", "Parse an email message.", "Return the event loop."]
    response = client.post(f"/v1/models/{text_model}/embed", json={"texts": texts})
    assert response.status_code == 200, response.text
    vectors = np.array(response.json()["embeddings"])
    assert vectors.shape == (3, model["dim"]) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6) and not np.allclose(vectors[0], vectors[1], atol=1e-3)
    ids = client.post(f"/v1/models/{text_model}/embed", json={"token_ids": [[5, 6, 7], [8]]})
    assert ids.status_code == 200, ids.text


def test_text_models_refuse_images_and_bad_token_ids(client: TestClient, text_model: str) -> None:
    [(_, png)] = digit_pngs(1)
    import base64

    response = client.post(f"/v1/models/{text_model}/embed", json={"inputs": [base64.b64encode(png).decode()]})
    assert response.status_code == 422 and "embeds texts, not images" in response.text
    response = client.post(f"/v1/models/{text_model}/embed", json={"token_ids": [[1, 10**9]]})
    assert response.status_code == 422 and "input[0][1]" in response.text
    response = client.post(f"/v1/models/{text_model}/embed", json={"texts": ["a"], "rows": [{}]})
    assert response.status_code == 422 and "exactly one" in response.text


def test_image_methods_refuse_text_datasets(client: TestClient) -> None:
    documents, _ = corpus(10)
    dataset = upload(client, "\n".join(documents).encode(), "d.txt")
    response = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr"})
    assert response.status_code == 422 and "accepts image data" in response.text


def test_the_openai_client_embeds_text_by_alias_as_the_native_route_does(client: TestClient, text_model: str) -> None:
    assert client.put(f"/v1/models/{text_model}/alias", json={"alias": "docs-encoder"}).status_code == 200
    key = client.headers["authorization"].removeprefix("Bearer ")
    openai_client = openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)
    texts = ["Return the event loop.", "Parse an email message."]
    native = np.array(client.post(f"/v1/models/{text_model}/embed", json={"texts": texts}).json()["embeddings"])
    for encoding in ({}, {"encoding_format": "float"}):  # the client asks for base64 and decodes it by default
        answer = openai_client.embeddings.create(input=texts, model="docs-encoder", **encoding)  # type: ignore[arg-type]
        assert answer.model == text_model and [d.index for d in answer.data] == [0, 1]
        assert np.allclose(np.array([d.embedding for d in answer.data]), native, atol=1e-6)
        assert answer.usage.prompt_tokens == answer.usage.total_tokens > len(texts) * 2  # [CLS] ... [SEP] each
    ids = openai_client.embeddings.create(input=[[5, 6, 7]], model=text_model, encoding_format="float")
    assert ids.usage.prompt_tokens == 5
    native_ids = client.post(f"/v1/models/{text_model}/embed", json={"token_ids": [[5, 6, 7]]}).json()["embeddings"]
    assert np.allclose(ids.data[0].embedding, native_ids[0], atol=1e-6)


HUB_FILES = ("config.json", "model.safetensors", "tokenizer.json")  # what the README has the operator fetch


def install_tiny_bert(name: str, hub: Path) -> None:
    """An operator's pretrained model, installed as the README says: a 1-layer BERT and its own tokenizer as a
    Hub repository holds them (made here in ``hub``, never downloaded), of which only the three files the
    README names are copied into the pretrained folder."""
    tokenizer = train_tokenizer(list(docstring_corpus()[0]), vocab_size=300)  # not the dataset's vocabulary
    config = BertConfig(
        vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(hub)
    tokenizer.save(str(hub / "tokenizer.json"))
    model_dir = get_settings().pretrained_dir / name
    model_dir.mkdir(parents=True)
    for file_name in HUB_FILES:
        shutil.copy(hub / file_name, model_dir / file_name)


def test_a_job_continues_from_an_installed_pretrained_model(client: TestClient, tmp_path: Path) -> None:
    install_tiny_bert("tiny-bert", tmp_path / "hub")
    documents, labels = corpus(120)
    dataset = upload(client, jsonl(documents, labels), "docs.jsonl")
    params = {"pretrained": "tiny-bert", "epochs": 1, "batch_size": 32, "max_length": 48, "lr": 3e-5}
    model_id = run_through_worker(client, dataset["id"], "mlm", params)["model_id"]
    assert client.get(f"/v1/models/{model_id}").json()["dim"] == 32
    response = client.post(f"/v1/models/{model_id}/embed", json={"token_ids": [[299]]})
    assert response.status_code == 200, response.text  # the pretrained tokenizer's vocabulary, not the dataset's
    texts = client.post(f"/v1/models/{model_id}/embed", json={"texts": ["Return the event loop."]})
    assert texts.status_code == 200 and len(texts.json()["embeddings"][0]) == 32, texts.text
    # the worker's export fitted MLM's whitening on the 120 documents and stored it; the route serves through it
    encoder = Encoder.load(get_settings().blob_dir / model_key(model_id) / ENCODER_FILE)
    assert encoder.whitening is not None and encoder.whitening.matrix.shape == (32, 32)
    served = np.array(texts.json()["embeddings"])
    assert np.allclose(served, encoder.embed_texts(["Return the event loop."]), atol=1e-5)


@pytest.mark.parametrize("name", ["../../etc", "/tmp/model", "missing-model", ".."])
def test_pretrained_names_only_installed_models(client: TestClient, name: str) -> None:
    documents, _ = corpus(10)
    dataset = upload(client, "\n".join(documents).encode(), "d.txt")
    body = {"dataset_id": dataset["id"], "method": "mlm", "params": {"pretrained": name}}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "params", "pretrained"]


def test_an_archive_of_text_past_the_unpacked_limit_fails_its_ingest(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import reset_service_caches

    monkeypatch.setenv("SELFSUP_MAX_EXTRACTED_BYTES", "4096")
    reset_service_caches()
    lines = "\n".join(f"document number {i}" for i in range(200)).encode()  # ~4 KB per file
    failed = upload(client, zip_bytes([("a.txt", lines), ("b.txt", lines)]), "two.zip")
    assert failed["status"] == "failed" and "more than 4096 bytes" in failed["error"], failed
    assert ready_datasets(client) == 0
