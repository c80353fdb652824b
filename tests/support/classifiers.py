"""Classifiers through the API in-process: a labeled embedding run to train on, and the worker's own code to
fit what is queued."""

from typing import Any

import httpx

from app.core.config import get_settings
from tests.support.embedding_runs import run_to_the_end
from tests.support.jobs import train_image_model
from worker.kinds import run_pending


def labeled_run(client: httpx.Client, dtype: str = "float32") -> dict[str, Any]:
    """A succeeded embedding run of a tiny image model over the 64 labeled digits it was trained on."""
    model_id = train_image_model(client)
    job = client.get(f"/v1/jobs/{client.get(f'/v1/models/{model_id}').json()['job_id']}").json()
    return run_to_the_end(client, model_id, job["dataset_id"], dtype)


def start_classifier(client: httpx.Client, run_id: str, labels: dict[str, str] | str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/classifiers", json={"embedding_run_id": run_id, "labels": labels, **fields})
    assert response.status_code == 202, response.text
    return dict(response.json())


def fit_pending() -> list[str]:
    """Fit every queued classifier to its end; the outcome of each."""
    return run_pending("classify", get_settings(), worker_name="test")
