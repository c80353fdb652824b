"""Embedding runs through the API in-process: start one over HTTP, run it with the worker's own code."""

from typing import Any

import httpx

from app.core.config import get_settings
from worker.embedding_runs import SHARD_ITEMS
from worker.kinds import run_pending


def start_run(client: httpx.Client, model_id: str, dataset_id: str, dtype: str = "float16") -> dict[str, Any]:
    response = client.post(f"/v1/models/{model_id}/embedding-runs", json={"dataset_id": dataset_id, "dtype": dtype})
    assert response.status_code == 202, response.text
    return dict(response.json())


def embed_pending(shard_items: int = SHARD_ITEMS) -> list[str]:
    """Run every queued embedding run to its end; the outcome of each."""
    return run_pending("embed", get_settings(), worker_name="test", shard_items=shard_items)


def run_to_the_end(client: httpx.Client, model_id: str, dataset_id: str, dtype: str = "float16") -> dict[str, Any]:
    """Start a run, embed it as a worker would, and return it as the API shows it once succeeded."""
    run = start_run(client, model_id, dataset_id, dtype)
    assert embed_pending() == ["succeeded"]
    finished = client.get(f"/v1/embedding-runs/{run['id']}").json()
    assert finished["status"] == "succeeded", finished
    return dict(finished)
