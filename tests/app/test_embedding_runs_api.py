"""Embedding runs over HTTP on PostgreSQL, the worker side run in-process with its own code: start one by model
id or alias, follow it, download its vectors as npy and Parquet, and the refusals: wrong modality, a dataset not
ready, other tenants' runs, models and datasets, the active-job quota; cancel and delete."""

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from app.core import config
from app.core.db import session_factory
from app.embedding_runs.orm import EmbeddingRun
from app.quotas.service import stored_bytes
from tests.conftest import new_key
from tests.support import ingest
from tests.support.embedding_runs import embed_pending, run_to_the_end, start_run
from tests.support.images import digit_pngs, digits_zip, zip_bytes
from tests.support.jobs import run_through_worker, train_image_model
from tests.support.pairs import captions_jsonl, digit_pairs
from tests.support.tables import csv_bytes, diabetes_columns
from tests.support.text import docstring_corpus


@pytest.fixture
def trained(client: TestClient) -> tuple[str, str]:
    """A tiny image model and the 64-digit dataset it was trained on."""
    model_id = train_image_model(client)
    job = client.get(f"/v1/jobs/{client.get(f'/v1/models/{model_id}').json()['job_id']}").json()
    return model_id, job["dataset_id"]


TINY_TEXT = {"preset": "tiny", "epochs": 1, "batch_size": 32, "max_length": 32, "lr": 1e-3}
TINY_CLIP = {"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 32, "epochs": 1, "batch_size": 32}


def other_tenant() -> dict[str, str]:
    return {"Authorization": f"Bearer {new_key('globex')}"}


def test_a_run_by_alias_is_followed_to_its_vectors_as_npy_and_parquet(
    client: TestClient, trained: tuple[str, str]
) -> None:
    model_id, dataset_id = trained
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "digits"}).status_code == 200
    queued = start_run(client, "digits", dataset_id)
    assert queued["status"] == "queued" and queued["model_id"] == model_id and queued["dtype"] == "float16"
    assert queued["progress"] == {"items_done": 0, "items_total": 64} and queued["num_items"] == 0
    assert client.get(f"/v1/embedding-runs/{queued['id']}/vectors").status_code == 409

    assert embed_pending() == ["succeeded"]
    run = client.get(f"/v1/embedding-runs/{queued['id']}").json()
    assert run["status"] == "succeeded" and run["num_items"] == 64 and run["finished_at"] is not None
    npy = client.get(f"/v1/embedding-runs/{run['id']}/vectors")
    assert npy.status_code == 200
    vectors = np.load(io.BytesIO(npy.content))
    assert vectors.shape == (64, run["dim"]) and vectors.dtype == np.float16
    assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1, atol=1e-2)

    table = pq.read_table(io.BytesIO(client.get(f"/v1/embedding-runs/{run['id']}/vectors?format=parquet").content))
    assert table.column_names == ["index", "label", "vector"] and table.num_rows == 64
    assert table.column("index").to_pylist() == list(range(64))
    assert set(table.column("label").to_pylist()) <= {str(d) for d in range(10)}
    np.testing.assert_allclose(np.array(table.column("vector").to_pylist()), vectors.astype(np.float32), atol=1e-6)
    assert client.get("/v1/embedding-runs").json()["total"] == 1


def test_a_model_embeds_only_ready_datasets_of_its_modality(client: TestClient, trained: tuple[str, str]) -> None:
    model_id, _ = trained
    table = ingest.upload_ready(
        client, {"file": ("t.csv", b"a,b\n1,2\n3,4\n5,6\n")}, {"name": "t", "modality": "tabular"}
    )
    wrong = client.post(f"/v1/models/{model_id}/embedding-runs", json={"dataset_id": table["id"]})
    assert wrong.status_code == 422 and "embeds image data" in wrong.text and "tabular" in wrong.text
    processing = client.post(
        "/v1/datasets", files={"file": ("d.zip", digits_zip(8))}, data={"name": "d", "image_size": "16"}
    ).json()
    waiting = client.post(f"/v1/models/{model_id}/embedding-runs", json={"dataset_id": processing["id"]})
    assert waiting.status_code == 409 and "being ingested" in waiting.text
    bad_dtype = client.post(f"/v1/models/{model_id}/embedding-runs", json={"dataset_id": table["id"], "dtype": "int8"})
    assert bad_dtype.status_code == 422


def test_other_tenants_runs_models_and_datasets_look_missing(
    client: TestClient, anonymous: TestClient, trained: tuple[str, str]
) -> None:
    model_id, dataset_id = trained
    run = start_run(client, model_id, dataset_id)
    theirs = other_tenant()
    for path in (f"/v1/embedding-runs/{run['id']}", f"/v1/embedding-runs/{run['id']}/vectors"):
        assert anonymous.get(path, headers=theirs).status_code == 404
    assert anonymous.post(f"/v1/embedding-runs/{run['id']}/cancel", headers=theirs).status_code == 404
    assert anonymous.delete(f"/v1/embedding-runs/{run['id']}", headers=theirs).status_code == 404
    missing = anonymous.get("/v1/embedding-runs/emb_missing", headers=theirs).json()["detail"]
    assert missing == f"embedding run {'emb_missing'!r} not found"
    model = anonymous.post(f"/v1/models/{model_id}/embedding-runs", json={"dataset_id": dataset_id}, headers=theirs)
    assert model.status_code == 404 and "model" in model.text
    assert anonymous.get("/v1/embedding-runs", headers=theirs).json()["total"] == 0
    # The other tenant's own model cannot reach this tenant's dataset either.
    with_own = anonymous.post("/v1/models/mdl_missing/embedding-runs", json={"dataset_id": dataset_id}, headers=theirs)
    assert with_own.status_code == 404


def test_runs_count_as_active_jobs_and_their_vectors_as_stored_bytes(
    client: TestClient, trained: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model_id, dataset_id = trained
    monkeypatch.setenv("SELFSUP_TENANT_MAX_ACTIVE_JOBS", "1")
    config.get_settings.cache_clear()
    start_run(client, model_id, dataset_id)
    second = client.post(f"/v1/models/{model_id}/embedding-runs", json={"dataset_id": dataset_id})
    assert second.status_code == 429 and "too many active jobs" in second.text
    assert embed_pending() == ["succeeded"]
    with session_factory()() as session:
        run_bytes = sum(run.size_bytes for run in session.query(EmbeddingRun))
        assert run_bytes > 0 and stored_bytes(session, tenant="acme") >= run_bytes


def test_cancel_and_delete(client: TestClient, trained: tuple[str, str], service_env: dict[str, str]) -> None:
    model_id, dataset_id = trained
    queued = start_run(client, model_id, dataset_id)
    assert client.delete(f"/v1/embedding-runs/{queued['id']}").status_code == 409
    canceled = client.post(f"/v1/embedding-runs/{queued['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    assert client.post(f"/v1/embedding-runs/{queued['id']}/cancel").status_code == 409
    assert embed_pending() == []

    done = run_to_the_end(client, model_id, dataset_id)
    folder = Path(service_env["SELFSUP_DATA_DIR"]) / "blobs" / "embedding-runs" / done["id"]
    assert json.loads((folder / "run.json").read_text())["num_items"] == 64
    assert client.delete(f"/v1/embedding-runs/{done['id']}").status_code == 204
    assert not folder.exists() and client.get(f"/v1/embedding-runs/{done['id']}").status_code == 404
    assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert client.get(f"/v1/embedding-runs/{queued['id']}").json()["dataset_id"] is None


def test_a_table_run_embeds_each_row_as_the_model_embeds_it(client: TestClient) -> None:
    dataset = ingest.upload_ready(
        client, {"file": ("d.csv", csv_bytes(diabetes_columns()))}, {"name": "d", "modality": "tabular"}
    )
    model_id = run_through_worker(client, dataset["id"], "scarf", {"epochs": 1, "batch_size": 64})["model_id"]
    run = run_to_the_end(client, model_id, dataset["id"], dtype="float32")
    vectors = np.load(io.BytesIO(client.get(f"/v1/embedding-runs/{run['id']}/vectors").content))
    rows = [client.get(f"/v1/datasets/{dataset['id']}/items/{i}").json()["row"] for i in (0, 10, 441)]
    served = client.post(f"/v1/models/{model_id}/embed", json={"rows": rows}).json()["embeddings"]
    np.testing.assert_allclose(vectors[[0, 10, 441]], np.array(served), atol=1e-4)


def test_a_text_run_embeds_each_document_as_the_model_embeds_its_text(client: TestClient) -> None:
    documents, labels = docstring_corpus()
    lines = [json.dumps({"text": d, "label": y}) for d, y in zip(documents[:96], labels[:96], strict=True)]
    form = {"name": "docs", "modality": "text", "vocab_size": "400"}
    dataset = ingest.upload_ready(client, {"file": ("docs.jsonl", "\n".join(lines).encode())}, form)
    model_id = run_through_worker(client, dataset["id"], "simcse", TINY_TEXT)["model_id"]
    run = run_to_the_end(client, model_id, dataset["id"], dtype="float32")
    vectors = np.load(io.BytesIO(client.get(f"/v1/embedding-runs/{run['id']}/vectors").content))
    texts = [client.get(f"/v1/datasets/{dataset['id']}/items/{i}").json()["text"] for i in (0, 50, 95)]
    served = client.post(f"/v1/models/{model_id}/embed", json={"texts": texts}).json()["embeddings"]
    np.testing.assert_allclose(vectors[[0, 50, 95]], np.array(served), atol=1e-4)
    table = pq.read_table(io.BytesIO(client.get(f"/v1/embedding-runs/{run['id']}/vectors?format=parquet").content))
    assert table.column("label").to_pylist() == list(labels[:96])


def test_an_image_text_run_embeds_the_images(client: TestClient) -> None:
    pairs = digit_pairs(60)
    archive = zip_bytes([*digit_pngs(60), ("captions.jsonl", captions_jsonl(pairs.captions))])
    form = {"name": "pairs", "modality": "image_text", "image_size": "16", "vocab_size": "200"}
    dataset = ingest.upload_ready(client, {"file": ("pairs.zip", archive)}, form)
    model_id = run_through_worker(client, dataset["id"], "clip", TINY_CLIP)["model_id"]
    run = run_to_the_end(client, model_id, dataset["id"], dtype="float32")
    vectors = np.load(io.BytesIO(client.get(f"/v1/embedding-runs/{run['id']}/vectors").content))
    image = client.get(f"/v1/datasets/{dataset['id']}/items/7").content
    served = client.post(f"/v1/models/{model_id}/embed", files=[("files", ("7.png", image, "image/png"))]).json()
    assert vectors.shape == (60, run["dim"])
    np.testing.assert_allclose(vectors[7], np.array(served["embeddings"][0]), atol=1e-4)
