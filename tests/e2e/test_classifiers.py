"""A classifier on a real uvicorn API and Celery worker: train a tiny model, embed its dataset, fit a classifier
on the dataset's labels, and predict stored items and the same images sent again."""

import pytest

from tests.e2e.conftest import Stack, StackFactory
from tests.support.images import digits_zip
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

COUNT = 64
TERMINAL = ("succeeded", "failed", "canceled")


def wait_done(stack: Stack, path: str) -> dict:
    def shown() -> dict:
        return dict(stack.client.http.get(path).raise_for_status().json())

    return dict(
        wait_for(
            lambda: (row := shown())["status"] in TERMINAL and row,
            timeout=120,
            what=f"{path} to finish",
            progress=lambda: (shown()["status"], *(w.work_done() for w in stack.workers)),
            interval=0.2,
        )
    )


def test_a_classifier_fitted_by_a_worker_predicts_stored_items_and_new_images(make_stack: StackFactory) -> None:
    # Leases longer than the fault tests' 4 s: nothing here is about a lost worker, and on a busy shared CPU a
    # 4 s lease lapsed between renewals, so the reaper gave the training job away until it failed.
    stack = make_stack(SELFSUP_LEASE_SECONDS="30")
    client = stack.client
    dataset = client.upload(digits_zip(COUNT))
    job = client.wait_until(client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32})["id"])
    assert job["status"] == "succeeded", f"{job['error']}\n{stack.workers[0].log()[-3000:]}"
    started = client.http.post(f"/v1/models/{job['model_id']}/embedding-runs", json={"dataset_id": dataset["id"]})
    assert started.status_code == 202, started.text
    run = wait_done(stack, f"/v1/embedding-runs/{started.json()['id']}")
    assert run["status"] == "succeeded", run["error"] or stack.workers[0].log()[-3000:]

    queued = client.http.post("/v1/classifiers", json={"embedding_run_id": run["id"], "labels": "dataset"})
    assert queued.status_code == 202, queued.text
    classifier = wait_done(stack, f"/v1/classifiers/{queued.json()['id']}")
    assert classifier["status"] == "succeeded", classifier["error"] or stack.workers[0].log()[-3000:]
    assert classifier["num_labels"] == COUNT and len(classifier["classes"]) == 10

    picked = [0, 7, COUNT - 1]
    path = f"/v1/classifiers/{classifier['id']}/predict"
    stored = client.http.post(path, json={"items": picked}).raise_for_status().json()["predictions"]
    images = [client.http.get(f"/v1/datasets/{dataset['id']}/items/{i}").content for i in picked]
    files = [("files", (f"{i}.png", image, "image/png")) for i, image in enumerate(images)]
    fresh = client.http.post(path, files=files).raise_for_status().json()["predictions"]
    for kept, sent in zip(stored, fresh, strict=True):
        assert set(sent["probabilities"]) == set(classifier["classes"])
        for name, probability in kept["probabilities"].items():
            assert sent["probabilities"][name] == pytest.approx(probability, abs=1e-2)
