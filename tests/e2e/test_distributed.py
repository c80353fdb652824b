"""The production shape end to end: uvicorn API + real Celery worker processes on PostgreSQL and Redis."""

import numpy as np
import pytest

from app.core.queue import ring_training_doorbell
from tests.e2e.conftest import Stack
from tests.support.images import digit_pngs, digits_zip
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e


def test_upload_pretrain_poll_and_embed(stack: Stack) -> None:
    dataset = stack.client.upload(digits_zip(200))
    job = stack.client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 3, "batch_size": 32})
    done = stack.client.wait_until(job["id"])
    assert done["status"] == "succeeded", done["error"] or stack.workers[0].log()[-3000:]
    assert done["attempts"] == 1 and done["progress"]["fraction"] == 1.0 and done["model_id"]
    epochs = stack.client.http.get(f"/v1/jobs/{job['id']}/metrics", params={"kind": "epoch"}).json()["points"]
    assert [p["epoch"] for p in epochs] == [1, 2, 3]
    assert "superuser privileges" not in stack.workers[0].log(), "Celery's root warning is configured away"

    images = [data for _, data in digit_pngs(6)]
    first = stack.client.embed_json(done["model_id"], images)
    vectors = np.array(first["embeddings"], dtype=np.float32)
    assert first["model"] == done["model_id"] and first["dim"] == 128 and vectors.shape == (6, 128)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert stack.client.embed_json(done["model_id"], images) == first, "the same inputs give the same vectors"
    as_files = np.array(stack.client.embed_files(done["model_id"], images)["embeddings"])
    np.testing.assert_allclose(as_files, vectors, atol=1e-6)
    alone = np.array(stack.client.embed_json(done["model_id"], images[3:4])["embeddings"][0])
    np.testing.assert_allclose(alone, vectors[3], atol=1e-5)  # outputs keep input order

    ring_training_doorbell(job["id"])  # a duplicate delivery of the same doorbell
    wait_for(lambda: "skipped" in stack.workers[0].log(), timeout=30, what="the duplicate to be skipped")
    assert stack.client.job(job["id"])["attempts"] == 1
    assert stack.client.http.get("/v1/models").json()["total"] == 1


def test_cancel_a_running_job(stack: Stack) -> None:
    dataset = stack.client.upload(digits_zip(128))
    job = stack.client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 500, "batch_size": 32})
    wait_for(
        lambda: stack.client.job(job["id"])["progress"]["step"] > 0,
        timeout=60,
        what="training to start",
        progress=stack.activity(job["id"]),
    )
    assert stack.client.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    done = stack.client.wait_until(job["id"], timeout=30)
    assert done["status"] == "canceled" and done["model_id"] is None
    assert 0 < done["progress"]["step"] < done["progress"]["total_steps"]
    assert (stack.data_dir / "blobs" / "jobs" / job["id"] / "checkpoint.pt").is_file()


@pytest.mark.parametrize("devices", [1, 2])
def test_a_killed_worker_is_replaced_and_the_job_resumes_from_its_checkpoint(stack: Stack, devices: int) -> None:
    """With 2 devices the worker's attempt is rank 0 of two processes; the kill takes both, and attempt 2's
    ranks all resume from the one checkpoint rank 0 wrote."""
    dataset = stack.client.upload(digits_zip(192))
    steps_per_epoch = 192 // 32
    params = {"backbone": "tiny_cnn", "epochs": 40, "batch_size": 32, "devices": devices}
    job = stack.client.submit(dataset["id"], params)
    wait_for(
        lambda: stack.client.job(job["id"])["progress"]["epoch"] >= 2,
        timeout=120,
        what="two epochs",
        interval=0.05,
        progress=stack.activity(job["id"]),
    )
    stack.workers[0].kill()  # kill -9 of the worker and its pool process, mid-epoch
    at_kill = stack.client.job(job["id"])
    assert at_kill["status"] == "running"

    stack.start_worker()
    done = stack.client.wait_until(job["id"], timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2
    assert stack.client.http.get("/v1/models").json()["total"] == 1

    points = stack.client.http.get(f"/v1/jobs/{job['id']}/metrics", params={"limit": 2000}).json()["points"]
    resumed = [p["step"] for p in points if p["attempt"] == 2]
    assert resumed and min(resumed) > 2 * steps_per_epoch - 1, "attempt 2 continued from the checkpoint"
    epochs = [p["epoch"] for p in points if p["kind"] == "epoch"]
    assert epochs == sorted(set(epochs)) and epochs[-1] == 40, "no epoch was trained twice"


FAMILY_JOBS = {
    "contrastive": ("byol", {"backbone": "tiny_cnn"}),
    "clustering": ("dino", {"backbone": "tiny_cnn", "num_local_crops": 2}),
    "masked": ("mae", {"backbone": "vit_tiny"}),
    "generative": ("vae", {"backbone": "tiny_cnn"}),
}


def test_one_method_of_each_family_trains_on_the_worker_and_embeds(stack: Stack) -> None:
    dataset = stack.client.upload(digits_zip(96), image_size=32)
    common = {"epochs": 1, "batch_size": 32}
    jobs = {
        family: stack.client.submit(dataset["id"], {**common, **params}, method=method)
        for family, (method, params) in FAMILY_JOBS.items()
    }
    image = digit_pngs(1)[0][1]
    for family, job in jobs.items():
        done = stack.client.wait_until(job["id"], timeout=240)
        assert done["status"] == "succeeded", f"{family}: {done['error']}"
        model = stack.client.http.get(f"/v1/models/{done['model_id']}").json()
        assert model["method"] == FAMILY_JOBS[family][0]
        vector = np.array(stack.client.embed_json(done["model_id"], [image])["embeddings"][0])
        assert vector.shape == (model["dim"],) and abs(np.linalg.norm(vector) - 1) < 1e-5
