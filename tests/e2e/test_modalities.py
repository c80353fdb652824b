"""Text, tables and image-text pairs through the production shape: uvicorn API + a real Celery worker process
on PostgreSQL and Redis, one method per modality, served through the official OpenAI client."""

import base64
import json

import numpy as np
import openai
import pytest

from tests.e2e.conftest import ADMIN_KEY, Stack
from tests.support.images import digit_pngs, zip_bytes
from tests.support.pairs import captions_jsonl, digit_pairs
from tests.support.tables import classification_columns, csv_bytes
from tests.support.text import docstring_corpus

pytestmark = pytest.mark.e2e


def corpus_jsonl() -> bytes:
    documents, labels = docstring_corpus()
    return "\n".join(json.dumps({"text": d, "label": y}) for d, y in zip(documents, labels, strict=True)).encode()


def pairs_zip(count: int) -> bytes:
    return zip_bytes([*digit_pngs(count), ("captions.jsonl", captions_jsonl(digit_pairs(count).captions))])


def test_one_method_per_modality_trains_on_the_worker_and_serves_openai_clients(stack: Stack) -> None:
    client = stack.client
    text = client.upload_file(corpus_jsonl(), "docs.jsonl", modality="text", vocab_size="600", max_length="48")
    table = client.upload_file(
        csv_bytes(classification_columns("wine")), "wine.csv", modality="tabular", label_column="label"
    )
    pairs = client.upload_file(pairs_zip(120), "pairs.zip", modality="image_text", image_size="16", vocab_size="200")
    common = {"epochs": 2, "batch_size": 32}
    jobs = {
        "text": client.submit(text["id"], {**common, "preset": "tiny", "max_length": 48}, method="mlm"),
        "tabular": client.submit(table["id"], common, method="scarf"),
        "image_text": client.submit(
            pairs["id"], {**common, "backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 32}, method="clip"
        ),
    }
    models = {}
    for modality, job in jobs.items():
        done = client.wait_until(job["id"], timeout=240)
        assert done["status"] == "succeeded", f"{modality}: {done['error']}" + stack.workers[0].log()[-2000:]
        models[modality] = done["model_id"]
    text_job, table_job = client.job(jobs["text"]["id"]), client.job(jobs["tabular"]["id"])
    # Beside the random-init twin, each labeled job scores its modality's classical baseline on the same split,
    # and the summary says where the encoder stands against it.
    for job, name in ((text_job, "TF-IDF"), (table_job, "standardized columns")):
        metrics = job["metrics"]
        assert metrics["baseline"] == name and 0 < metrics["knn_top1_baseline"] <= 1, metrics
        assert 0 < metrics["linear_probe_baseline"] <= 1 and {"mean_cosine", "participation_ratio"} <= metrics.keys()
        gap = 100 * (metrics["knn_top1"] - metrics["knn_top1_baseline"])
        said = f"{-gap:.1f} points below {name} on these labels" if gap < 0 else f"{gap:+.1f} points over {name}"
        assert f"kNN {metrics['knn_top1']:.2f}: " in job["summary"] and said in job["summary"], job["summary"]
    assert "text_to_image_recall@5" in client.job(jobs["image_text"]["id"])["metrics"]

    api = openai.OpenAI(base_url=str(client.http.base_url).rstrip("/") + "/v1", api_key=ADMIN_KEY, max_retries=0)
    texts = api.embeddings.create(
        input=["Return the running event loop.", "Parse a MIME message."], model=models["text"]
    )
    row = {name: values[0] for name, values in classification_columns("wine").items() if name != "label"}
    rows = api.embeddings.create(input=[json.dumps(row)], model=models["tabular"])
    image_url = "data:image/png;base64," + base64.b64encode(digit_pngs(1)[0][1]).decode()
    images = api.embeddings.create(input=[image_url], model=models["image_text"])
    captions = api.embeddings.create(input=["the digit 0, light"], model=models["image_text"])
    for answer, count in ((texts, 2), (rows, 1), (images, 1), (captions, 1)):
        vectors = np.array([d.embedding for d in answer.data])
        assert len(vectors) == count and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert texts.usage.prompt_tokens > 0 and rows.usage.prompt_tokens == 0
    native = client.http.post(f"/v1/models/{models['tabular']}/embed", json={"rows": [row]}).json()["embeddings"]
    assert np.allclose(native[0], rows.data[0].embedding, atol=1e-6)
