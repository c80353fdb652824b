"""A tenant that floods the service with jobs, uploads or bytes hits its own limits (429 naming the limit),
while other tenants carry on; what was already stored is left as it was. Limits are counted from the database,
so an upload in flight in another API process counts as much as one in this process."""

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core import config, db
from app.core.db import session_scope, utcnow
from app.datasets.orm import Dataset
from app.models.orm import RegisteredModel
from app.quotas.orm import Upload
from app.quotas.service import TenantLimits, begin_upload, end_upload
from tests.conftest import new_key
from tests.support import ingest
from tests.support.images import digits_zip
from tests.support.jobs import TINY_SIMCLR, run_through_worker


def set_limits(monkeypatch: pytest.MonkeyPatch, **limits: int) -> None:
    """Apply SELFSUP_TENANT_* limits to the running app: routes read settings per request."""
    for name, value in limits.items():
        monkeypatch.setenv(f"SELFSUP_TENANT_{name.upper()}", str(value))
    config.get_settings.cache_clear()


@pytest.fixture
def beta(anonymous: TestClient) -> Iterator[TestClient]:
    """A second tenant's client on the same app."""
    with TestClient(anonymous.app, headers={"Authorization": f"Bearer {new_key('beta')}"}) as other:
        yield other


def upload(client: TestClient, count: int = 40) -> Any:
    """The upload's own answer: quotas are checked before the upload is read."""
    files = {"file": ("d.zip", digits_zip(count))}
    return client.post("/v1/datasets", files=files, data={"name": "d", "image_size": "16"})


def ready(client: TestClient, count: int = 40) -> dict[str, Any]:
    """Uploaded and ingested."""
    return ingest.upload_ready(client, {"file": ("d.zip", digits_zip(count))}, {"name": "d", "image_size": "16"})


def submit(client: TestClient, dataset_id: str) -> Any:
    return client.post("/v1/jobs", json={"dataset_id": dataset_id, "method": "simclr"})


def blobs(env: dict[str, str]) -> list[str]:
    root = Path(env["SELFSUP_DATA_DIR"]) / "blobs"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".staging" not in p.parts)


def test_active_jobs_over_the_limit_get_429_with_retry_after(
    client: TestClient, beta: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, theirs = ready(client), ready(beta)
    set_limits(monkeypatch, max_active_jobs=2)
    first = submit(client, dataset["id"]).json()
    assert submit(client, dataset["id"]).status_code == 202

    refused = submit(client, dataset["id"])
    assert refused.status_code == 429
    assert "active jobs" in refused.json()["detail"] and "limit is 2" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "60"
    assert client.get("/v1/jobs").json()["total"] == 2, "the refused job was not stored"

    assert submit(beta, theirs["id"]).status_code == 202, "another tenant is unaffected"
    assert client.post(f"/v1/jobs/{first['id']}/cancel").status_code == 202
    assert submit(client, dataset["id"]).status_code == 202, "a finished job frees its slot"


def test_an_upload_past_the_storage_limit_fails_its_ingest_and_leaves_nothing(
    client: TestClient, beta: TestClient, monkeypatch: pytest.MonkeyPatch, service_env: dict[str, str]
) -> None:
    stored = ready(client)
    set_limits(monkeypatch, max_stored_bytes=stored["size_bytes"] + stored["size_bytes"] // 2)
    before = blobs(service_env)

    # The tenant has room left, so the upload is taken; what it adds is known only once it is ingested.
    failed = ingest.upload(client, {"file": ("d.zip", digits_zip(40))}, {"name": "d", "image_size": "16"})
    assert failed["status"] == "failed", failed
    detail = failed["error"]
    assert "storage limit" in detail and f"limit is {stored['size_bytes'] * 3 // 2} bytes" in detail
    assert [d["status"] for d in client.get("/v1/datasets").json()["items"]] == ["failed", "ready"]
    assert blobs(service_env) == before
    assert ready(beta)["status"] == "ready", "another tenant is unaffected"


def test_a_full_tenant_is_refused_before_its_upload_is_read_and_cannot_submit_jobs(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = ready(client)
    set_limits(monkeypatch, max_stored_bytes=stored["size_bytes"])
    refused = upload(client, count=1)  # even a tiny one: the tenant is already full
    assert refused.status_code == 429 and f"{stored['size_bytes']} bytes are stored" in refused.json()["detail"]
    job = submit(client, stored["id"])
    assert job.status_code == 429 and "storage limit" in job.json()["detail"]
    assert client.get("/v1/jobs").json()["total"] == 0


def test_models_count_toward_stored_bytes(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = ready(client, count=64)
    job = run_through_worker(client, dataset["id"], "simclr", TINY_SIMCLR)
    with session_scope() as session:
        model_bytes = session.get_one(RegisteredModel, job["model_id"]).size_bytes
    assert model_bytes > 0
    set_limits(monkeypatch, max_stored_bytes=dataset["size_bytes"] + model_bytes)
    refused = upload(client, count=1)
    assert refused.status_code == 429, "the dataset and the model together fill the quota"
    assert f"{dataset['size_bytes'] + model_bytes} bytes are stored" in refused.json()["detail"]


def test_uploads_in_flight_in_any_api_process_count(
    client: TestClient, beta: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_limits(monkeypatch, max_uploads=1)
    limits = TenantLimits.from_settings(config.get_settings())
    with db.session_factory()() as elsewhere:  # what another API process does when an upload starts there
        slot = begin_upload(elsewhere, tenant="acme", limits=limits)

    refused = upload(client)
    assert refused.status_code == 429
    assert "uploads in progress: 1" in refused.json()["detail"] and "limit is 1" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "10"
    assert client.get("/v1/datasets").json()["total"] == 0, "nothing was recorded"
    assert ready(beta)["status"] == "ready", "another tenant is unaffected"

    with db.session_factory()() as elsewhere:
        end_upload(elsewhere, upload_id=slot)
    assert ready(client)["status"] == "ready", "the slot frees when that upload ends"
    assert ready(client)["status"] == "ready", "and a finished upload frees its own"


def test_a_crashed_api_processs_upload_stops_counting_when_it_expires(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_limits(monkeypatch, max_uploads=1)
    dead = utcnow() - timedelta(hours=2)  # an API process died mid-upload; its slot expired an hour ago
    with session_scope() as session:
        session.add(Upload(id="upl_dead", tenant="acme", started_at=dead, expires_at=dead + timedelta(hours=1)))
    assert ready(client)["status"] == "ready"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 0, "the expired row was removed"
        assert session.scalar(select(func.count()).select_from(Dataset)) == 1


def test_no_database_connection_is_held_while_an_upload_is_read(client: TestClient) -> None:
    """A slow or large upload must not pin one of the pool's connections (nor a transaction) for its length."""
    held: list[int] = []

    def on_open(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and str(args[0]).endswith("upload") and ".staging" in str(args[0]):
            held.append(db.get_engine().pool.checkedout())  # type: ignore[attr-defined]

    sys.addaudithook(on_open)  # audit hooks cannot be removed; this one only appends to a local list
    assert upload(client).status_code == 202
    assert held and set(held) == {0}, "the request's connection went back to the pool before the upload was read"


def test_a_refused_upload_frees_its_slot(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    set_limits(monkeypatch, max_uploads=1)
    corrupt = ingest.upload(client, {"file": ("d.zip", b"not a zip")}, {"name": "d"})
    assert corrupt["status"] == "failed" and "not a .zip, .tar or .tar.gz archive" in corrupt["error"]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 0
    assert ready(client)["status"] == "ready"
