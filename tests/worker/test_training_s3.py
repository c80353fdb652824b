"""A training attempt with blobs in a real S3 server (moto): nothing is read from or left in the data dir."""

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.db import session_factory
from app.core.storage import open_storage
from app.jobs.orm import Job
from app.models.orm import RegisteredModel
from tests.support.images import digit_pngs, digits_zip
from tests.support.ingest import upload_ready
from tests.support.jobs import run_until_first_epoch_then_cancel
from worker.training import run_job

TINY = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32, "warmup_epochs": 0}


@pytest.fixture
def api(s3_env: dict[str, str], client: TestClient) -> TestClient:
    """The in-process API, started after ``s3_env`` so that it opens the bucket."""
    return client


def upload(api: TestClient) -> str:
    """Uploaded to the bucket and ingested from it by the ingest worker's own code."""
    dataset = upload_ready(api, {"file": ("d.zip", digits_zip(64))}, {"name": "d", "image_size": "16"})
    return str(dataset["id"])


def submit(api: TestClient, dataset_id: str, params: dict[str, int | str]) -> str:
    response = api.post("/v1/jobs", json={"dataset_id": dataset_id, "method": "simclr", "params": params})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_a_job_trains_from_the_bucket_and_publishes_its_encoder_there(api: TestClient) -> None:
    settings, storage = get_settings(), open_storage(get_settings())
    dataset_id = upload(api)
    assert f"datasets/{dataset_id}/images.npy" in [o.key for o in storage.list(f"datasets/{dataset_id}")]
    job_id = submit(api, dataset_id, TINY)
    assert run_job(job_id, settings=settings, worker_name="test") == "succeeded"
    with session_factory()() as session:
        job = session.get_one(Job, job_id)
        model = session.get_one(RegisteredModel, job.model_id)
        assert job.checkpoint_bytes == 0
    [encoder] = storage.list(model.storage_key)
    assert encoder.key.endswith("/encoder.pt") and model.size_bytes == encoder.size > 0
    assert storage.list(f"jobs/{job_id}") == [], "the stored checkpoint went once the model was registered"
    assert not settings.blob_dir.exists(), "nothing was written to the local blob folder"
    assert not (settings.cache_dir / "work" / "jobs" / job_id).exists(), "the local working folder went too"
    assert len(list((settings.cache_dir / "entries").iterdir())) == 1, "the dataset was read from the cache"

    inputs = [base64.b64encode(png).decode() for _, png in digit_pngs(2)]
    embedded = api.post(f"/v1/models/{model.id}/embed", json={"inputs": inputs})
    assert embedded.status_code == 200, embedded.text
    assert np.array(embedded.json()["embeddings"]).shape == (2, 128)


def test_a_canceled_jobs_checkpoint_is_kept_in_the_bucket_and_counted(api: TestClient) -> None:
    settings, storage = get_settings(), open_storage(get_settings())
    job_id = submit(api, upload(api), {**TINY, "epochs": 500})
    run_until_first_epoch_then_cancel(job_id)
    [checkpoint] = storage.list(f"jobs/{job_id}")
    assert checkpoint.key == f"jobs/{job_id}/checkpoint.pt"
    with session_factory()() as session:
        assert session.get_one(Job, job_id).checkpoint_bytes == checkpoint.size > 0, "what the job keeps in storage"
    assert not (settings.cache_dir / "work" / "jobs" / job_id).exists()
