"""Uploading through the API (a TestClient, or a real server), then ingesting with the worker's own code, as an
ingest worker would."""

from typing import Any

import httpx

from app.core.config import get_settings
from worker.kinds import run_pending


def ingest_pending() -> list[str]:
    """Run every queued ingest job to its end; the outcome of each."""
    return run_pending("ingest", get_settings(), worker_name="test")


def upload(
    client: httpx.Client,
    files: Any,
    data: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST /v1/datasets (answered 202, ``processing``), ingest it, and return the dataset as GET shows it."""
    response = client.post("/v1/datasets", files=files, data=data or {}, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    ingest_pending()
    shown = client.get(f"/v1/datasets/{response.json()['id']}", headers=headers)
    assert shown.status_code == 200, shown.text
    return dict(shown.json())


def upload_ready(client: httpx.Client, files: Any, data: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    dataset = upload(client, files, data, **kwargs)
    assert dataset["status"] == "ready", dataset["error"]
    return dataset


def upload_failed(client: httpx.Client, files: Any, data: dict[str, str] | None = None, **kwargs: Any) -> str:
    """The error of an upload whose ingest failed (the dataset's ``error``)."""
    dataset = upload(client, files, data, **kwargs)
    assert dataset["status"] == "failed", dataset
    assert dataset["num_items"] == 0
    return str(dataset["error"])
