"""Training through the API in-process: submit a job over HTTP, run it with the worker's own code, read it back."""

import threading
from typing import Any

from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.db import session_factory
from app.jobs.orm import Job
from app.jobs.service import cancel_job
from tests.support import ingest
from tests.support.images import digits_zip
from tests.support.processes import wait_for
from worker.training import run_job

TINY_SIMCLR = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32}


def run_through_worker(client: TestClient, dataset_id: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Submit the job, run it to the end as a worker would, and return the finished job as the API shows it."""
    job = client.post("/v1/jobs", json={"dataset_id": dataset_id, "method": method, "params": params})
    assert job.status_code == 202, job.text
    assert run_job(job.json()["id"], settings=get_settings(), worker_name="test") == "succeeded"
    return dict(client.get(f"/v1/jobs/{job.json()['id']}").json())


def upload_digits(client: TestClient, count: int = 64) -> dict[str, Any]:
    return ingest.upload_ready(client, {"file": ("d.zip", digits_zip(count))}, {"name": "d", "image_size": "16"})


def train_image_model(client: TestClient, *, count: int = 64, **params: Any) -> str:
    """A tiny SimCLR model on ``count`` digits at 16 px; ``params`` override :data:`TINY_SIMCLR`."""
    dataset = upload_digits(client, count)
    return str(run_through_worker(client, dataset["id"], "simclr", {**TINY_SIMCLR, **params})["model_id"])


def run_until_first_epoch_then_cancel(job_id: str, *, tenant: str = "acme", worker_name: str = "test") -> None:
    """Run the job with the worker's code and cancel it, as a client would, once its first epoch is done: it then
    ends ``canceled`` with its checkpoint kept (a finished job keeps only its encoder)."""

    def counters() -> tuple[int, int]:
        with session_factory()() as session:
            job = session.get_one(Job, job_id)
            return job.epoch, job.step

    def cancel_after_the_first_epoch() -> None:
        wait_for(lambda: counters()[0] >= 1, timeout=60, what="the first epoch", interval=0.02, progress=counters)
        with session_factory()() as session:
            cancel_job(session, tenant=tenant, job_id=job_id)

    canceler = threading.Thread(target=cancel_after_the_first_epoch)
    canceler.start()
    try:
        assert run_job(job_id, settings=get_settings(), worker_name=worker_name) == "canceled"
    finally:
        canceler.join()
