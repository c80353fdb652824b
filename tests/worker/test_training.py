"""One training attempt run in-process against PostgreSQL and Redis: success, duplicates, failure cap."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.db import session_factory
from app.datasets.orm import Dataset
from app.jobs.orm import Job
from app.models.orm import RegisteredModel
from app.quotas.service import stored_bytes
from selfsup.encoder import Encoder
from tests.support import ingest
from tests.support.images import digits_zip
from tests.support.jobs import run_until_first_epoch_then_cancel
from worker.training import run_job

TINY = {"backbone": "tiny_cnn", "epochs": 2, "batch_size": 32, "warmup_epochs": 0}


@pytest.fixture
def dataset_id(client: TestClient) -> str:
    files = {"file": ("d.zip", digits_zip(96))}
    return str(ingest.upload_ready(client, files, {"name": "d", "image_size": "16"})["id"])


def submit(client: TestClient, dataset_id: str, params: dict[str, Any]) -> str:
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "method": "simclr", "params": params})
    assert response.status_code == 202
    return response.json()["id"]


def test_a_succeeded_job_keeps_only_its_exported_encoder(client: TestClient, dataset_id: str) -> None:
    job_id = submit(client, dataset_id, {**TINY, "epochs": 1})
    assert run_job(job_id, settings=get_settings(), worker_name="test") == "succeeded"
    blobs = get_settings().blob_dir
    assert not (blobs / "jobs" / job_id).exists(), "the checkpoint went once the model was registered"
    with session_factory()() as session:
        job = session.get_one(Job, job_id)
        model = session.get_one(RegisteredModel, job.model_id)
        assert job.checkpoint_bytes == 0 and job.workdir_removed_at is not None
    encoder = blobs / "models" / model.id / "encoder.pt"
    assert model.size_bytes == encoder.stat().st_size > 0, "the model's size is recorded for the quota"


def test_a_canceled_jobs_checkpoint_is_kept_and_counts_toward_stored_bytes(client: TestClient, dataset_id: str) -> None:
    job_id = submit(client, dataset_id, {**TINY, "epochs": 500})

    run_until_first_epoch_then_cancel(job_id)
    workdir = get_settings().blob_dir / "jobs" / job_id
    assert (workdir / "checkpoint.pt").exists(), "kept for the retention period"
    with session_factory()() as session:
        assert session.get_one(Job, job_id).checkpoint_bytes > 0
        assert stored_bytes(session, tenant="acme") > session.get_one(Dataset, dataset_id).size_bytes


def test_a_job_trains_reports_and_registers_one_model(client: TestClient, dataset_id: str) -> None:
    job_id = submit(client, dataset_id, TINY)
    assert run_job(job_id, settings=get_settings(), worker_name="test") == "succeeded"
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["attempts"] == 1 and job["finished_at"]
    assert job["phase"] == "done" and job["eta_seconds"] is None
    assert "points over the random-init encoder" in job["summary"] and "RankMe" in job["summary"], job["summary"]
    assert job["summary"].startswith(f"kNN {job['metrics']['knn_top1']:.2f}") and " of 128" in job["summary"]
    assert job["progress"]["fraction"] == 1.0 and job["metrics"]["loss"] > 0
    history = client.get(f"/v1/jobs/{job_id}/metrics", params={"kind": "epoch"}).json()["points"]
    assert [p["epoch"] for p in history] == [1, 2]
    assert {"rankme", "alignment", "uniformity", "embedding_std"} <= history[-1]["values"].keys()
    [final] = client.get(f"/v1/jobs/{job_id}/metrics", params={"kind": "final"}).json()["points"]
    labeled = {"knn_top1", "linear_probe", "knn_top1_random_init", "linear_probe_random_init"}
    assert labeled <= final["values"].keys(), "the digits' class folders are labels: probes are reported"
    assert job["metrics"] == final["values"], "the job shows the final report as its latest metrics"
    model = client.get(f"/v1/models/{job['model_id']}").json()
    expected = {"job_id": job_id, "method": "simclr", "backbone": "tiny_cnn", "modality": "image", "dim": 128}
    assert model == {**model, **expected} and model["evaluation"] == final["values"]
    encoder_file = Path(get_settings().blob_dir) / "models" / model["id"] / "encoder.pt"
    vectors = Encoder.load(encoder_file).embed(np.zeros((2, 16, 16, 3), np.uint8))
    assert vectors.shape == (2, 128)
    assert run_job(job_id, settings=get_settings(), worker_name="test") == "skipped", "a duplicate trains nothing"
    assert client.get("/v1/models").json()["total"] == 1


def test_an_attempt_that_keeps_failing_ends_failed_after_the_cap(client: TestClient, dataset_id: str) -> None:
    job_id = submit(client, dataset_id, TINY)
    images = Path(get_settings().blob_dir) / "datasets" / dataset_id / "images.npy"
    images.unlink()  # the data vanished from storage: every attempt fails the same way
    settings = get_settings()
    outcomes = [run_job(job_id, settings=settings, worker_name="test") for _ in range(settings.max_attempts + 1)]
    assert outcomes == ["requeued"] * (settings.max_attempts - 1) + ["failed", "skipped"]
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["attempts"] == settings.max_attempts
    assert "FileNotFoundError" in job["error"] and f"gave up after {settings.max_attempts} attempts" in job["error"]


def test_an_error_that_retrying_cannot_fix_fails_at_once(client: TestClient, dataset_id: str) -> None:
    job_id = submit(client, dataset_id, TINY)
    with session_factory()() as session:  # params edited behind the API's back no longer validate
        session.get_one(Job, job_id).params = {**TINY, "epochs": 0}
        session.commit()
    assert run_job(job_id, settings=get_settings(), worker_name="test") == "failed"
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["attempts"] == 1 and "params.epochs" in job["error"]
