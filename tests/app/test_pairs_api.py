"""Image-text pairs end to end over HTTP: archive + captions upload, refusals, a CLIP job through the real worker
code that reports held-out retrieval, and one shared space served for images and texts (native and OpenAI)."""

import base64

import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient

from tests.support import ingest
from tests.support.images import digit_pngs, zip_bytes
from tests.support.jobs import run_through_worker
from tests.support.pairs import captions_csv, captions_jsonl, digit_pairs

COUNT = 200
TINY_CLIP = {"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 32, "epochs": 2, "batch_size": 64, "lr": 2e-3}


def archive(count: int = COUNT, captions: bytes | None = None, name: str = "captions.jsonl") -> bytes:
    pairs = digit_pairs(count)
    files = [*digit_pngs(count), (name, captions if captions is not None else captions_jsonl(pairs.captions))]
    return zip_bytes(files)


def upload(client: TestClient, data: bytes) -> dict:
    """Uploaded and ingested: the dataset as GET shows it, ready or failed."""
    fields = {"name": "pairs", "modality": "image_text", "image_size": "16", "vocab_size": "200"}
    return ingest.upload(client, {"file": ("pairs.zip", data)}, fields)


def test_images_and_captions_are_paired_at_upload(client: TestClient) -> None:
    pairs = digit_pairs(40)
    captions = [c for c in pairs.captions if not c[0].endswith("digit_0003.png")]  # one image left uncaptioned
    body = upload(client, archive(40, captions_csv(captions), "captions.csv"))
    assert body["status"] == "ready", body["error"]
    assert body["modality"] == "image_text" and body["num_items"] == 39 and body["image_size"] == 16
    assert body["details"]["captions"] == len(captions) and body["details"]["images_without_captions"] == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (zip_bytes(digit_pngs(5)), "needs exactly one captions file; found no captions.jsonl or captions.csv"),
        (archive(5, b'{"file": "9/nowhere.png", "caption": "x"}\n'), "'9/nowhere.png', which is not among"),
        (archive(5, b'{"file": "0/digit_0000.png", "caption": "x"}\n{oops\n'), "line 2"),
        (zip_bytes([*digit_pngs(3), ("captions.jsonl", b""), ("notes.txt", b"x")]), "'notes.txt' is not an image"),
    ],
)
def test_malformed_pairs_are_refused_and_nothing_is_stored(client: TestClient, data: bytes, expected: str) -> None:
    failed = upload(client, data)
    assert failed["status"] == "failed" and expected in failed["error"], failed
    assert [d["status"] for d in client.get("/v1/datasets").json()["items"]] == ["failed"]


@pytest.fixture
def clip_model(client: TestClient) -> str:
    dataset = upload(client, archive())
    finished = run_through_worker(client, dataset["id"], "clip", TINY_CLIP)
    for key in ("image_to_text_recall@1", "image_to_text_recall@5", "text_to_image_recall@1", "text_to_image_recall@5"):
        assert 0 <= finished["metrics"][key] <= 1, finished["metrics"]
    assert finished["metrics"]["num_images"] == COUNT // 10
    return str(finished["model_id"])


def test_one_space_for_images_and_texts(client: TestClient, clip_model: str) -> None:
    model = client.get(f"/v1/models/{clip_model}").json()
    assert model["modality"] == "image_text" and model["method"] == "clip" and model["dim"] == 32
    images = [base64.b64encode(png).decode() for _, png in digit_pngs(2)]
    texts = ["the digit 0, light", "number one written by hand with a heavy pen"]
    by_image = client.post(f"/v1/models/{clip_model}/embed", json={"inputs": images})
    by_text = client.post(f"/v1/models/{clip_model}/embed", json={"texts": texts})
    assert by_image.status_code == by_text.status_code == 200, (by_image.text, by_text.text)
    image_vectors, text_vectors = np.array(by_image.json()["embeddings"]), np.array(by_text.json()["embeddings"])
    assert image_vectors.shape == text_vectors.shape == (2, 32)

    key = client.headers["authorization"].removeprefix("Bearer ")
    openai_client = openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)
    urls = [f"data:image/png;base64,{b64}" for b64 in images]
    served_images = openai_client.embeddings.create(input=urls, model=clip_model)
    served_texts = openai_client.embeddings.create(input=texts, model=clip_model)
    assert np.allclose([d.embedding for d in served_images.data], image_vectors, atol=1e-6)
    assert np.allclose([d.embedding for d in served_texts.data], text_vectors, atol=1e-6)
    assert served_images.usage.prompt_tokens == 0 < served_texts.usage.prompt_tokens
    mixed = client.post("/v1/embeddings", json={"model": clip_model, "input": [urls[0], texts[0]]})
    assert mixed.status_code == 400 and mixed.json()["error"]["param"] == "input"
