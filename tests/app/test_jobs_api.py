"""Submitting, reading, listing and canceling jobs over HTTP, on PostgreSQL and Redis."""

from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from app.core.db import session_scope
from app.core.errors import FieldErrors
from app.datasets.orm import Dataset
from app.jobs.service import create_job
from tests.support import ingest
from tests.support.databases import REDIS_URL
from tests.support.images import digits_zip


@pytest.fixture
def dataset(client: TestClient) -> dict[str, Any]:
    return ingest.upload_ready(client, {"file": ("d.zip", digits_zip(40))}, {"name": "d", "image_size": "16"})


def submit(client: TestClient, dataset_id: str, **body: Any) -> Any:
    return client.post("/v1/jobs", json={"dataset_id": dataset_id, "method": "simclr", **body})


def test_submit_stores_resolved_params_and_rings_the_broker(
    client: TestClient, dataset: dict[str, Any], queue_name: str
) -> None:
    broker = redis.Redis.from_url(REDIS_URL)
    broker.delete(queue_name)
    response = submit(client, dataset["id"], params={"backbone": "tiny_cnn", "epochs": 3, "batch_size": 16}, name="t")
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["name"] == "t" and job["attempts"] == 0
    assert job["params"]["temperature"] == 0.2, "defaults are filled in and stored"
    assert job["progress"] == {
        "epoch": 0,
        "epochs": 3,
        "step": 0,
        "total_steps": 3 * (40 // 16),
        "fraction": 0.0,
        "max_minutes": None,
        "planned_epochs": 3,
    }
    assert job["model_id"] is None and job["error"] is None and job["started_at"] is None
    assert broker.llen(queue_name) == 1, "exactly one doorbell message waits in the training queue"
    broker.delete(queue_name)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"method": "nope"}, ["body", "method"]),
        ({"params": {"epochs": 0}}, ["body", "params", "epochs"]),
        ({"params": {"temperature": -1}}, ["body", "params", "temperature"]),
        ({"params": {"backbone": "vgg"}}, ["body", "params", "backbone"]),
        ({"params": {"epochs": "many"}}, ["body", "params", "epochs"]),
        ({"params": {"epochs": True}}, ["body", "params", "epochs"]),
        ({"params": {"epochs": "5"}}, ["body", "params", "epochs"]),
        ({"params": {"lr": "0.1"}}, ["body", "params", "lr"]),
        ({"params": {"colour": 1}}, ["body", "params", "colour"]),
        ({"params": "fast"}, ["body", "params"]),
        ({"parameters": {"epochs": 1}}, ["body", "parameters"]),
        ({"dataset_id": "ds_missing"}, ["body", "dataset_id"]),
    ],
)
def test_invalid_submissions_name_the_field(
    client: TestClient, dataset: dict[str, Any], body: dict[str, Any], loc: list[str]
) -> None:
    response = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", **body})
    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]]


def test_an_integer_learning_rate_is_a_float(client: TestClient, dataset: dict[str, Any]) -> None:
    response = submit(client, dataset["id"], params={"backbone": "tiny_cnn", "epochs": 1, "lr": 1, "weight_decay": 0})
    assert response.status_code == 202, response.text
    assert (response.json()["params"]["lr"], response.json()["params"]["weight_decay"]) == (1.0, 0.0)


def test_method_must_accept_the_dataset_modality(client: TestClient) -> None:
    with session_scope() as session:
        session.add(
            Dataset(id="ds_text", tenant="acme", name="t", modality="text", num_items=10, size_bytes=1, storage_key="x")
        )
    response = client.post("/v1/jobs", json={"dataset_id": "ds_text", "method": "simclr"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "method"] and "accepts image data" in error["msg"]


def test_a_job_that_names_no_method_gets_its_modality_default(client: TestClient, dataset: dict[str, Any]) -> None:
    with session_scope() as session:
        session.add(
            Dataset(id="ds_text", tenant="acme", name="t", modality="text", num_items=10, size_bytes=1, storage_key="x")
        )
    listed = {m["name"]: m["default_for"] for m in client.get("/v1/methods").json()["items"]}
    assert listed["simclr"] == ["image"] and listed["bagcse"] == ["text"] and listed["byol"] == []
    for dataset_id, method in ((dataset["id"], "simclr"), ("ds_text", "bagcse")):
        response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "params": {"epochs": 1}})
        assert response.status_code == 202, response.text
        assert response.json()["method"] == method and response.json()["params"]["epochs"] == 1


def test_get_list_and_filter(client: TestClient, dataset: dict[str, Any]) -> None:
    first = submit(client, dataset["id"]).json()
    second = submit(client, dataset["id"]).json()
    client.post(f"/v1/jobs/{first['id']}/cancel")
    assert client.get(f"/v1/jobs/{second['id']}").json()["id"] == second["id"]
    assert client.get("/v1/jobs/job_missing").status_code == 404
    listed = client.get("/v1/jobs").json()
    assert listed["total"] == 2 and [j["id"] for j in listed["items"]] == [second["id"], first["id"]]
    queued = client.get("/v1/jobs", params={"status": "queued"}).json()
    assert [j["id"] for j in queued["items"]] == [second["id"]]
    canceled = client.get("/v1/jobs", params={"status": "canceled"}).json()
    assert [j["id"] for j in canceled["items"]] == [first["id"]]
    assert client.get("/v1/jobs", params={"status": "sleeping"}).status_code == 422
    assert client.get("/v1/jobs", params={"limit": 1, "offset": 1}).json()["items"][0]["id"] == first["id"]


def test_cancel_queued_job_ends_it_at_once(client: TestClient, dataset: dict[str, Any]) -> None:
    job = submit(client, dataset["id"]).json()
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "canceled" and response.json()["finished_at"]
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "canceled" in again.json()["detail"]
    assert client.post("/v1/jobs/job_missing/cancel").status_code == 404


def test_metrics_history(client: TestClient, dataset: dict[str, Any]) -> None:
    job = submit(client, dataset["id"]).json()
    empty = {"job_id": job["id"], "points": [], "total": 0, "limit": 500, "offset": 0}
    assert client.get(f"/v1/jobs/{job['id']}/metrics").json() == empty
    assert client.get("/v1/jobs/job_missing/metrics").status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/metrics", params={"kind": "hourly"}).status_code == 422


@pytest.mark.parametrize("body", [{}, {"dataset_id": 5, "method": "simclr"}, [], {"dataset_id": "x", "method": None}])
def test_malformed_bodies_are_422(client: TestClient, body: Any) -> None:
    assert client.post("/v1/jobs", json=body).status_code == 422


def test_a_job_asks_for_no_more_devices_than_the_service_has(client: TestClient, dataset: dict[str, Any]) -> None:
    response = submit(client, dataset["id"], params={"backbone": "tiny_cnn", "devices": 2})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "params", "devices"] and "at most 1 devices" in error["msg"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"devices": 2, "batch_size": 15}, "a batch of 15 items cannot be split evenly over 2 devices"),
        ({"devices": 3}, "at most 2 devices"),
        ({"devices": 2, "max_minutes": 5}, "a max_minutes job trains on one device"),
    ],
)
def test_a_multi_device_job_splits_its_batch_evenly(
    client: TestClient, dataset: dict[str, Any], params: dict[str, Any], message: str
) -> None:
    with session_scope() as session, pytest.raises(FieldErrors) as refused:
        create_job(
            session, tenant="acme", dataset_id=dataset["id"], method="simclr", params=params, name=None, max_devices=2
        )
    [error] = refused.value.errors
    assert error["loc"] == ["body", "params", "devices"] and message in error["msg"]
