"""An embedding run on a real uvicorn API and Celery worker: train a tiny model, embed its dataset, download the
vectors as npy and Parquet, and find them equal to what the model serves for the same items."""

import io

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Stack
from tests.support.images import digits_zip
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

COUNT = 96


def test_a_dataset_embedded_by_a_worker_matches_the_served_embeddings(stack: Stack) -> None:
    client = stack.client
    dataset = client.upload(digits_zip(COUNT))
    job = client.wait_until(client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32})["id"])
    assert job["status"] == "succeeded", job["error"] or stack.workers[0].log()[-3000:]
    model_id = job["model_id"]

    started = client.http.post(f"/v1/models/{model_id}/embedding-runs", json={"dataset_id": dataset["id"]})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def run() -> dict:
        return client.http.get(f"/v1/embedding-runs/{run_id}").raise_for_status().json()

    finished = wait_for(
        lambda: (r := run())["status"] in ("succeeded", "failed", "canceled") and r,
        timeout=120,
        what=f"{run_id} to finish",
        progress=lambda: (run()["progress"], *(w.work_done() for w in stack.workers)),
        interval=0.2,
    )
    assert finished["status"] == "succeeded", finished["error"] or stack.workers[0].log()[-3000:]
    assert finished["num_items"] == COUNT and finished["progress"] == {"items_done": COUNT, "items_total": COUNT}

    vectors = np.load(io.BytesIO(client.http.get(f"/v1/embedding-runs/{run_id}/vectors").content))
    assert vectors.shape == (COUNT, finished["dim"]) and vectors.dtype == np.float16
    parquet = client.http.get(f"/v1/embedding-runs/{run_id}/vectors", params={"format": "parquet"}).content
    table = pq.read_table(io.BytesIO(parquet))
    assert table.column("index").to_pylist() == list(range(COUNT))
    np.testing.assert_allclose(np.array(table.column("vector").to_pylist()), vectors.astype(np.float32), atol=1e-6)

    # Row i is item i: the stored image, embedded again through the serving route, gives the same vector.
    picked = [0, 7, COUNT - 1]
    items = [client.http.get(f"/v1/datasets/{dataset['id']}/items/{i}").content for i in picked]
    served = np.array(client.embed_files(model_id, items)["embeddings"], dtype=np.float32)
    np.testing.assert_allclose(vectors[picked].astype(np.float32), served, atol=1e-3)
