"""Search indexes over embedding runs, over HTTP on PostgreSQL with the worker's own code run in-process: the
run's files are searched exactly (small runs) or through the hnsw graph the run built (large ones), with
stored items or raw inputs as queries, across modalities for an image-text model, and never across tenants."""

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from tests.conftest import new_key
from tests.support import ingest
from tests.support.embedding_runs import run_to_the_end
from tests.support.images import digit_pngs, zip_bytes
from tests.support.jobs import run_through_worker, train_image_model
from tests.support.pairs import captions_jsonl, digit_pairs


@pytest.fixture
def run(client: TestClient) -> dict[str, object]:
    """A finished embedding run of a tiny image model over the 64 labeled digits it was trained on."""
    model_id = train_image_model(client)
    dataset_id = client.get(f"/v1/jobs/{client.get(f'/v1/models/{model_id}').json()['job_id']}").json()["dataset_id"]
    return run_to_the_end(client, model_id, dataset_id)


def new_index(client: TestClient, run_id: object, **fields: object) -> dict[str, object]:
    response = client.post("/v1/indexes", json={"embedding_run_id": run_id, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def vectors_of(client: TestClient, run_id: object) -> np.ndarray:
    return np.load(io.BytesIO(client.get(f"/v1/embedding-runs/{run_id}/vectors").content)).astype(np.float32)


def test_items_find_their_nearest_neighbours_exactly_and_never_themselves(
    client: TestClient, run: dict[str, object]
) -> None:
    index = new_index(client, run["id"])
    assert index["kind"] == "exact" and index["num_items"] == 64
    found = client.post(f"/v1/indexes/{index['id']}/search", json={"items": [0, 5], "k": 4})
    assert found.status_code == 200, found.text
    vectors = vectors_of(client, run["id"])
    for query, result in zip([0, 5], found.json()["results"], strict=True):
        matches = result["matches"]
        assert len(matches) == 4 and query not in [m["index"] for m in matches]
        similarity = vectors @ vectors[query]
        similarity[query] = -np.inf
        assert [m["index"] for m in matches] == list(np.argsort(-similarity)[:4])
        assert all(m["label"] in {str(d) for d in range(10)} for m in matches)
        scores = [m["score"] for m in matches]
        assert scores == sorted(scores, reverse=True)


def test_a_raw_image_finds_the_stored_item_it_is(client: TestClient, run: dict[str, object]) -> None:
    index = new_index(client, run["id"])
    png = client.get(f"/v1/datasets/{run['dataset_id']}/items/17").content  # the stored item, as a client shows it
    query = {"inputs": [base64.b64encode(png).decode()], "k": 3}
    found = client.post(f"/v1/indexes/{index['id']}/search", json=query)
    assert found.status_code == 200, found.text
    matches = found.json()["results"][0]["matches"]
    assert matches[0]["score"] > 0.99  # float16 vectors: the item itself, or an identical twin of it
    assert 17 in [m["index"] for m in matches if m["score"] >= matches[0]["score"] - 1e-3]


def test_a_large_run_is_searched_through_its_hnsw_graph(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFSUP_EXACT_INDEX_UP_TO", "16")
    get_settings.cache_clear()
    model_id = train_image_model(client)
    dataset_id = client.get(f"/v1/jobs/{client.get(f'/v1/models/{model_id}').json()['job_id']}").json()["dataset_id"]
    run = run_to_the_end(client, model_id, dataset_id)
    approximate, exact = new_index(client, run["id"]), new_index(client, run["id"], kind="exact")
    assert approximate["kind"] == "hnsw" and exact["kind"] == "exact"
    queries = {"items": list(range(0, 64, 4)), "k": 5}
    hnsw = client.post(f"/v1/indexes/{approximate['id']}/search", json=queries).json()["results"]
    truth = client.post(f"/v1/indexes/{exact['id']}/search", json=queries).json()["results"]
    hits = sum(
        len({m["index"] for m in a["matches"]} & {m["index"] for m in b["matches"]})
        for a, b in zip(hnsw, truth, strict=True)
    )
    assert hits / (5 * len(truth)) >= 0.9


def test_a_small_run_has_no_hnsw_index_and_bad_queries_are_named(client: TestClient, run: dict[str, object]) -> None:
    refused = client.post("/v1/indexes", json={"embedding_run_id": run["id"], "kind": "hnsw"})
    assert refused.status_code == 422 and "searched exactly" in refused.text
    index = new_index(client, run["id"])
    search = f"/v1/indexes/{index['id']}/search"
    out_of_range = client.post(search, json={"items": [3, 64]})
    assert out_of_range.status_code == 422 and "0 to 63, not 64" in out_of_range.text
    assert out_of_range.json()["detail"][0]["loc"] == ["body", "items", 1]
    both = client.post(search, json={"items": [1], "texts": ["a"]})
    assert both.status_code == 422 and "exactly one of" in both.text
    wrong_kind = client.post(search, json={"texts": ["a seven"]})
    assert wrong_kind.status_code == 422 and "embeds images, not texts" in wrong_kind.text
    assert client.post(search, json={"items": [1], "k": 1001}).status_code == 422


def test_another_tenant_sees_no_index_and_cannot_index_the_run(client: TestClient, run: dict[str, object]) -> None:
    index = new_index(client, run["id"])
    other = {"Authorization": f"Bearer {new_key('globex')}"}
    for response in (
        client.get(f"/v1/indexes/{index['id']}", headers=other),
        client.post(f"/v1/indexes/{index['id']}/search", json={"items": [0]}, headers=other),
        client.delete(f"/v1/indexes/{index['id']}", headers=other),
        client.post("/v1/indexes", json={"embedding_run_id": run["id"]}, headers=other),
    ):
        assert response.status_code == 404, response.text
    assert client.get("/v1/indexes", headers=other).json()["total"] == 0
    assert client.get("/v1/indexes").json()["total"] == 1
    assert client.delete(f"/v1/indexes/{index['id']}").status_code == 204
    assert client.get(f"/v1/indexes/{index['id']}").status_code == 404


def test_texts_search_the_images_of_an_image_text_model(client: TestClient) -> None:
    pairs = digit_pairs(60)
    archive = zip_bytes([*digit_pngs(60), ("captions.jsonl", captions_jsonl(pairs.captions))])
    form = {"name": "pairs", "modality": "image_text", "image_size": "16", "vocab_size": "200"}
    dataset = ingest.upload_ready(client, {"file": ("pairs.zip", archive)}, form)
    params = {"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 32, "epochs": 1, "batch_size": 32}
    model_id = run_through_worker(client, dataset["id"], "clip", params)["model_id"]
    run = run_to_the_end(client, model_id, dataset["id"])
    index = new_index(client, run["id"])
    found = client.post(f"/v1/indexes/{index['id']}/search", json={"texts": [pairs.captions[0][1]], "k": 3})
    assert found.status_code == 200, found.text
    matches = found.json()["results"][0]["matches"]
    assert len(matches) == 3 and all(0 <= m["index"] < run["num_items"] for m in matches)
