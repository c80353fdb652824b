"""Ingest as a job, through the worker's own code against PostgreSQL, Redis and real files: what an attempt leaves
behind when it fails, is killed or is retried, and how the job shares training's claims without mixing with them."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.config import get_settings
from app.core.db import session_factory, session_scope, utcnow
from app.core.storage import LocalStorage
from app.datasets.ingest_jobs import dataset_key, staging_prefix, upload_key
from app.jobs.lease import claim_job, reap
from app.jobs.orm import Job
from app.jobs.scheduling import claim_next
from tests.support.databases import REDIS_URL
from tests.support.images import digit_pngs, digits_zip, zip_bytes
from tests.support.ingest import ingest_pending, upload_failed, upload_ready
from worker.heartbeat import Heartbeat, LeaseLost
from worker.ingest import ProgressReporter, settle_abandoned
from worker.reaper import reap_once

FORM = {"name": "d", "image_size": "16"}


def blobs(service_env: dict[str, str]) -> Path:
    return Path(service_env["SELFSUP_DATA_DIR"]) / "blobs"


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def post(client: TestClient, data: bytes) -> dict[str, Any]:
    """Upload without ingesting: the dataset as the 202 shows it."""
    response = client.post("/v1/datasets", files={"file": ("d.zip", data)}, data=FORM)
    assert response.status_code == 202, response.text
    return dict(response.json())


def ingest_job(dataset_id: str) -> Job:
    with session_factory()() as session:
        return session.scalars(select(Job).where(Job.dataset_id == dataset_id, Job.kind == "ingest")).one()


def test_an_upload_is_answered_processing_and_a_worker_makes_it_ready(
    client: TestClient, service_env: dict[str, str]
) -> None:
    accepted = post(client, digits_zip(300))
    assert accepted["status"] == "processing" and accepted["num_items"] == 0 and accepted["error"] is None
    assert files_under(blobs(service_env) / "uploads") == [f"{accepted['id']}/upload"]
    waiting = client.get(f"/v1/datasets/{accepted['id']}").json()
    assert waiting["status"] == "processing" and waiting["progress"] == {
        "items_done": None,
        "items_total": None,
        "bytes_done": None,
        "bytes_total": None,
    }

    assert ingest_pending() == ["succeeded"]
    ready = client.get(f"/v1/datasets/{accepted['id']}").json()
    assert ready["status"] == "ready" and ready["num_items"] == 300 and ready["labels"]["num_labeled"] == 300
    assert ready["progress"]["items_done"] == ready["progress"]["items_total"] == 300
    assert ready["progress"]["bytes_total"] == len(digits_zip(300))
    images = np.load(blobs(service_env) / dataset_key(accepted["id"]) / "images.npy")
    assert images.shape == (300, 16, 16, 3)
    assert files_under(blobs(service_env) / "uploads") == [], "the upload goes once the dataset is ready"
    assert files_under(blobs(service_env) / ".staging") == []
    job = ingest_job(accepted["id"])
    assert job.status == "succeeded" and job.attempts == 1 and job.method == "ingest" and job.epochs == 1


def test_a_corrupt_image_fails_the_dataset_for_good_naming_the_file(
    client: TestClient, service_env: dict[str, str]
) -> None:
    archive = zip_bytes([*digit_pngs(20), ("7/broken.png", b"\x89PNG\r\n\x1a\n not really")])
    error = upload_failed(client, {"file": ("d.zip", archive)}, FORM)
    assert error.startswith("7/broken.png: not a recognized image format"), error
    [dataset] = client.get("/v1/datasets").json()["items"]
    job = ingest_job(dataset["id"])
    assert job.status == "failed" and job.attempts == 1 and job.error == error, "bad input is not retried"
    assert files_under(blobs(service_env) / "datasets") == [], "nothing is published for a failed ingest"
    assert files_under(blobs(service_env) / "uploads") == [], "the upload is removed"
    assert files_under(blobs(service_env) / ".staging") == []


def test_jobs_on_a_dataset_that_is_not_ready_are_409(client: TestClient) -> None:
    processing = post(client, digits_zip(8))
    refused = client.post("/v1/jobs", json={"dataset_id": processing["id"], "method": "simclr"})
    assert refused.status_code == 409 and "still being ingested" in refused.json()["detail"]
    assert client.delete(f"/v1/datasets/{processing['id']}").status_code == 409

    upload_failed(client, {"file": ("d.zip", b"not an archive")}, FORM)
    failed = next(d for d in client.get("/v1/datasets").json()["items"] if d["status"] == "failed")
    refused = client.post("/v1/jobs", json={"dataset_id": failed["id"], "method": "simclr"})
    assert refused.status_code == 409 and "its ingest failed: d.zip: not a .zip" in refused.json()["detail"]
    assert client.delete(f"/v1/datasets/{failed['id']}").status_code == 204


def test_ingest_jobs_stay_out_of_the_jobs_api_and_the_active_jobs_quota(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import reset_service_caches

    monkeypatch.setenv("SELFSUP_TENANT_MAX_ACTIVE_JOBS", "1")
    reset_service_caches()
    ready = upload_ready(client, {"file": ("d.zip", digits_zip(8))}, FORM)
    processing = post(client, digits_zip(8))
    assert client.get("/v1/jobs").json()["total"] == 0
    assert client.get(f"/v1/jobs/{ingest_job(processing['id']).id}").status_code == 404
    assert client.post("/v1/jobs", json={"dataset_id": ready["id"], "method": "simclr"}).status_code == 202


def test_claims_go_by_kind(client: TestClient) -> None:
    ready = upload_ready(client, {"file": ("d.zip", digits_zip(8))}, FORM)
    train_id = client.post("/v1/jobs", json={"dataset_id": ready["id"], "method": "simclr"}).json()["id"]
    ingest_id = ingest_job(post(client, digits_zip(8))["id"]).id
    with session_factory()() as session:
        assert claim_job(session, job_id=ingest_id, worker="w", lease_seconds=30) is None, "a trainer never ingests"
        assert claim_job(session, job_id=train_id, worker="w", lease_seconds=30, kind="ingest") is None
        ingest_claim = claim_next(session, worker="w", lease_seconds=30, kind="ingest")
        train_claim = claim_next(session, worker="w", lease_seconds=30)
    assert ingest_claim is not None and ingest_claim.job_id == ingest_id
    assert train_claim is not None and train_claim.job_id == train_id


def test_a_retried_attempt_starts_clean(client: TestClient, service_env: dict[str, str]) -> None:
    """What a killed attempt left (its staging directory, a dataset renamed into place but never committed) is
    removed before the next attempt works, and the next attempt's result is whole."""
    accepted = post(client, digits_zip(40))
    job_id = ingest_job(accepted["id"]).id
    storage = LocalStorage(blobs(service_env))
    leftover = storage.staging_dir(f"{staging_prefix(job_id)}1")
    (leftover / "images.npy").write_bytes(b"half an array")
    published = blobs(service_env) / dataset_key(accepted["id"])
    published.mkdir(parents=True)
    (published / "images.npy").write_bytes(b"half an array")

    assert ingest_pending() == ["succeeded"]
    assert client.get(f"/v1/datasets/{accepted['id']}").json()["status"] == "ready"
    assert files_under(published) == ["files.json", "images.npy", "labels.npy"]
    assert np.load(published / "images.npy").shape == (40, 16, 16, 3)
    assert files_under(blobs(service_env) / ".staging") == []


def test_an_unexpected_error_is_retried_up_to_the_cap_then_fails_the_dataset(
    client: TestClient, service_env: dict[str, str]
) -> None:
    accepted = post(client, digits_zip(8))
    LocalStorage(blobs(service_env)).delete(upload_key(accepted["id"]))  # the store lost the object
    assert ingest_pending() == ["requeued", "requeued", "failed"]
    failed = client.get(f"/v1/datasets/{accepted['id']}").json()
    assert failed["status"] == "failed" and "no object stored at" in failed["error"], failed
    assert "gave up after 3 attempts" in failed["error"]
    assert ingest_job(accepted["id"]).attempts == 3


def test_an_ingest_whose_workers_keep_dying_fails_its_dataset_through_the_reaper(
    client: TestClient, service_env: dict[str, str]
) -> None:
    accepted = post(client, digits_zip(8))
    storage = LocalStorage(blobs(service_env))
    for attempt in (1, 2, 3):  # each claim's worker dies mid-ingest, leaving its staging directory
        with session_factory()() as session:
            claim = claim_next(session, worker="doomed", lease_seconds=30, kind="ingest")
            assert claim is not None and claim.attempt == attempt
        storage.staging_dir(f"{staging_prefix(claim.job_id)}{attempt}")
        with session_factory()() as session:
            reap(session, max_attempts=3, redispatch_after=60, now=utcnow() + timedelta(seconds=31))

    assert settle_abandoned(get_settings()) == [accepted["id"]]
    failed = client.get(f"/v1/datasets/{accepted['id']}").json()
    assert failed["status"] == "failed" and failed["error"] == "the worker was lost 3 times; giving up"
    assert files_under(blobs(service_env) / "uploads") == [] and files_under(blobs(service_env) / ".staging") == []
    assert not list((blobs(service_env) / ".staging").iterdir())
    assert settle_abandoned(get_settings()) == [], "settled once"


def test_progress_writes_are_fenced_by_the_claim(client: TestClient) -> None:
    accepted = post(client, digits_zip(8))
    with session_factory()() as session:
        stale = claim_next(session, worker="slow", lease_seconds=30, kind="ingest")
    assert stale is not None
    reporter = ProgressReporter(stale, Heartbeat(stale, lease_seconds=30), interval=0.0)
    reporter({"items_done": 1, "items_total": 8})
    assert ingest_job(accepted["id"]).metrics == {"items_done": 1, "items_total": 8}

    with session_scope() as session:  # the reaper hands the job to another worker
        session.get_one(Job, stale.job_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    with session_factory()() as session:
        reap(session, max_attempts=3, redispatch_after=60)
        assert claim_job(session, job_id=stale.job_id, worker="new", lease_seconds=30, kind="ingest") is not None
    with pytest.raises(LeaseLost):
        reporter({"items_done": 2})
    assert ingest_job(accepted["id"]).metrics == {"items_done": 1, "items_total": 8}, "the stale write matched nothing"


def test_the_upload_and_the_reaper_ring_the_ingest_queue_not_the_training_one(
    client: TestClient, queue_name: str
) -> None:
    broker = redis.Redis.from_url(REDIS_URL)
    ingest_queue = f"{queue_name}-ingest"
    broker.delete(queue_name, ingest_queue)
    accepted = post(client, digits_zip(8))
    assert (broker.llen(ingest_queue), broker.llen(queue_name)) == (1, 0)

    with session_scope() as session:  # the doorbell went unanswered for long enough to ring again
        session.get_one(Job, ingest_job(accepted["id"]).id).dispatched_at = utcnow() - timedelta(hours=1)
    assert reap_once(get_settings()) == [ingest_job(accepted["id"]).id]
    assert (broker.llen(ingest_queue), broker.llen(queue_name)) == (2, 0)
    broker.delete(queue_name, ingest_queue)
