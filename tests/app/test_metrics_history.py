"""A job's metrics history: bounded however long the run, and read page by page, on PostgreSQL."""

from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.db import session_factory, session_scope
from app.datasets.orm import Dataset
from app.jobs.lease import claim_job, record_progress
from app.jobs.orm import Job

CAP = 20


@pytest.fixture
def job_id(client: TestClient) -> str:
    """A job of the client's tenant that has reported 100 steps, with an epoch point every 10, capped at CAP."""
    with session_scope() as session:
        session.add(
            Dataset(id="ds_1", tenant="acme", name="d", modality="image", num_items=10, size_bytes=1, storage_key="k")
        )
        session.flush()
        session.add(
            Job(id="job_1", tenant="acme", dataset_id="ds_1", method="simclr", params={}, epochs=10, metrics={})
        )
    with session_factory()() as session:
        claim = claim_job(session, job_id="job_1", worker="w", lease_seconds=60)
        assert claim is not None
        for step in range(1, 101):
            report = {"claim": claim, "epoch": step // 10, "step": step, "total_steps": 100, "history_cap": CAP}
            record_progress(session, metrics={"loss": 1 / step}, kind="step", **report)
            if step % 10 == 0:
                record_progress(session, metrics={"epoch_loss": 1 / step}, kind="epoch", **report)
        record_progress(session, metrics={"knn_top1": 0.5}, kind="final", **report)
    return "job_1"


def read_all(client: TestClient, job_id: str, **params: Any) -> list[dict[str, Any]]:
    body = client.get(f"/v1/jobs/{job_id}/metrics", params={"limit": 2000, **params}).json()
    assert body["total"] == len(body["points"])
    return list(body["points"])


def test_step_points_are_thinned_oldest_first_and_epoch_points_never(client: TestClient, job_id: str) -> None:
    steps = [p["step"] for p in read_all(client, job_id, kind="step")]
    assert len(steps) <= CAP, steps
    assert steps == sorted(steps) and steps[0] == 1, "the run's first point is kept"
    assert steps[-5:] == [96, 97, 98, 99, 100], "recent points keep full resolution"
    gaps = [b - a for a, b in pairwise(steps)]
    assert gaps[0] > gaps[-1] == 1, "older stretches are sparser"
    assert [p["epoch"] for p in read_all(client, job_id, kind="epoch")] == list(range(1, 11))
    assert [p["values"] for p in read_all(client, job_id, kind="final")] == [{"knn_top1": 0.5}]


def test_metrics_are_paged_with_a_total(client: TestClient, job_id: str) -> None:
    everything = read_all(client, job_id)
    pages = []
    for offset in range(0, len(everything), 7):
        page = client.get(f"/v1/jobs/{job_id}/metrics", params={"limit": 7, "offset": offset}).json()
        assert page["total"] == len(everything) and page["limit"] == 7 and page["offset"] == offset
        pages.extend(page["points"])
    assert pages == everything
    epochs = client.get(f"/v1/jobs/{job_id}/metrics", params={"kind": "epoch", "limit": 3, "offset": 8}).json()
    assert epochs["total"] == 10 and [p["epoch"] for p in epochs["points"]] == [9, 10]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 2001}, {"offset": -1}])
def test_out_of_range_paging_is_422(client: TestClient, params: dict[str, int]) -> None:
    response = client.get("/v1/jobs/job_any/metrics", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]
