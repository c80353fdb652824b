"""What a team does with its embeddings, on a real uvicorn API and Celery worker, for images, text and tables:
train a tiny model, embed its dataset, search it with a raw input, read its quality report and map, choose
what to label next, train a few-shot classifier on a handful of labels and predict raw inputs with it."""

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.e2e.client import SelfSupClient
from tests.e2e.conftest import Stack
from tests.support.images import digits_zip
from tests.support.processes import wait_for
from tests.support.tables import classification_columns, csv_bytes
from tests.support.text import docstring_corpus

pytestmark = pytest.mark.e2e

LABELS_PER_CLASS = 3
ENDED = ("succeeded", "failed", "canceled")


@dataclass(frozen=True)
class Case:
    """One modality: how to upload its data, which tiny method trains it, how a stored item becomes a query."""

    upload: Callable[[SelfSupClient], dict[str, Any]]
    method: str
    params: dict[str, Any]
    query: Callable[[SelfSupClient, str, int], dict[str, Any]]  # (client, dataset id, item) -> a search body


def _images(client: SelfSupClient) -> dict[str, Any]:
    return client.upload(digits_zip(120))


def _image_query(client: SelfSupClient, dataset_id: str, item: int) -> dict[str, Any]:
    png = client.http.get(f"/v1/datasets/{dataset_id}/items/{item}").content
    return {"inputs": [base64.b64encode(png).decode()]}


def _texts(client: SelfSupClient) -> dict[str, Any]:
    documents, labels = docstring_corpus()
    lines = [json.dumps({"text": d, "label": y}) for d, y in zip(documents[:160], labels[:160], strict=True)]
    return client.upload_file("\n".join(lines).encode(), "docs.jsonl", modality="text", vocab_size="400")


def _text_query(client: SelfSupClient, dataset_id: str, item: int) -> dict[str, Any]:
    return {"texts": [client.http.get(f"/v1/datasets/{dataset_id}/items/{item}").json()["text"]]}


def _table(client: SelfSupClient) -> dict[str, Any]:
    return client.upload_file(
        csv_bytes(classification_columns("wine")), "wine.csv", modality="tabular", label_column="label"
    )


def _row_query(client: SelfSupClient, dataset_id: str, item: int) -> dict[str, Any]:
    return {"rows": [client.http.get(f"/v1/datasets/{dataset_id}/items/{item}").json()["row"]]}


CASES = {
    "image": Case(_images, "simclr", {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32}, _image_query),
    "text": Case(
        _texts, "simcse", {"preset": "tiny", "epochs": 1, "batch_size": 32, "max_length": 32, "lr": 1e-3}, _text_query
    ),
    "tabular": Case(_table, "scarf", {"epochs": 1, "batch_size": 64}, _row_query),
}


def wait_ended(stack: Stack, path: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        return dict(stack.client.http.get(path).raise_for_status().json())

    ended = wait_for(
        lambda: (body := read())["status"] in ENDED and body,
        timeout=180,
        what=f"{path} to end",
        progress=lambda: (read().get("progress"), *(w.work_done() for w in stack.workers)),
        interval=0.2,
    )
    assert ended["status"] == "succeeded", ended.get("error") or stack.workers[0].log()[-3000:]
    return dict(ended)


def trained_run(stack: Stack, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ready dataset and a finished embedding run of a model trained on it."""
    client = stack.client
    dataset = client.wait_for_dataset(case.upload(client)["id"])
    job = client.wait_until(client.submit(dataset["id"], case.params, method=case.method)["id"])
    assert job["status"] == "succeeded", job["error"] or stack.workers[0].log()[-3000:]
    started = client.http.post(f"/v1/models/{job['model_id']}/embedding-runs", json={"dataset_id": dataset["id"]})
    assert started.status_code == 202, started.text
    return dataset, wait_ended(stack, f"/v1/embedding-runs/{started.json()['id']}")


@pytest.mark.parametrize("modality", list(CASES))
def test_search_quality_selection_and_a_few_shot_classifier(stack: Stack, modality: str) -> None:
    case, http = CASES[modality], stack.client.http
    dataset, run = trained_run(stack, case)
    count = run["num_items"]

    index = http.post("/v1/indexes", json={"embedding_run_id": run["id"]}).raise_for_status().json()
    query = {**case.query(stack.client, dataset["id"], 5), "k": 3}
    matches = http.post(f"/v1/indexes/{index['id']}/search", json=query).raise_for_status().json()["results"][0]
    assert matches["matches"][0]["score"] > 0.99  # the item itself (or an identical twin)

    report = http.get(f"/v1/embedding-runs/{run['id']}/quality").raise_for_status().json()
    assert report["num_items"] == count and report["label_disagreements"] is not None
    points = http.get(f"/v1/embedding-runs/{run['id']}/map").raise_for_status().json()["points"]
    assert len(points) == count

    classes = dataset["labels"]["classes"]
    budget = LABELS_PER_CLASS * len(classes)
    chosen = http.post("/v1/selections", json={"embedding_run_id": run["id"], "budget": budget})
    indices = chosen.raise_for_status().json()["indices"]
    assert len(set(indices)) == budget

    # Diverse picks of a barely trained encoder may all carry one class; a seeded random draw (independent of the
    # vectors, so the same items every time) beside them makes sure the classifier has two or more to tell apart.
    drawn = http.post("/v1/selections", json={"embedding_run_id": run["id"], "budget": budget, "strategy": "random"})
    labels = item_labels(stack.client, run["id"], sorted({*indices, *drawn.raise_for_status().json()["indices"]}))
    assert len(set(labels.values())) >= 2, f"the chosen items carry one class only: {labels}"
    submitted = http.post("/v1/classifiers", json={"embedding_run_id": run["id"], "labels": labels})
    assert submitted.status_code == 202, submitted.text
    classifier = wait_ended(stack, f"/v1/classifiers/{submitted.json()['id']}")
    assert classifier["num_labels"] == len(labels)

    predicted = http.post(
        f"/v1/classifiers/{classifier['id']}/predict", json=case.query(stack.client, dataset["id"], 7)
    )
    assert predicted.status_code == 200, predicted.text
    prediction = predicted.json()["predictions"][0]
    assert prediction["label"] in set(labels.values())
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-4


def item_labels(client: SelfSupClient, run_id: str, indices: list[int]) -> dict[str, str]:
    """The labels a person would give the chosen items: here, the dataset's own, from the run's Parquet."""
    parquet = client.http.get(f"/v1/embedding-runs/{run_id}/vectors", params={"format": "parquet"}).content
    labels = pq.read_table(io.BytesIO(parquet)).column("label").to_pylist()
    return {str(i): str(labels[i]) for i in indices}
