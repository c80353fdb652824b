"""Embedding runs through the worker's own code against PostgreSQL and real files: the vectors are the
encoder's, a retried attempt resumes after its last finished shard, and a cancel ends the run and its shards."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.db import session_factory, utcnow
from app.embedding_runs.orm import EmbeddingRun
from app.jobs.lease import reap
from app.jobs.orm import Job
from app.models.service import ENCODER_FILE, model_key
from selfsup.encoder import Encoder
from tests.support.embedding_runs import embed_pending, run_to_the_end, start_run
from tests.support.jobs import train_image_model
from worker.embedding_runs import SHARDS_PREFIX, StoredShards

SHARD = 16  # 64 items: four shards


def blobs(service_env: dict[str, str]) -> Path:
    return Path(service_env["SELFSUP_DATA_DIR"]) / "blobs"


@pytest.fixture
def trained(client: TestClient) -> tuple[str, str]:
    """A tiny image model and the 64-digit dataset it was trained on."""
    model_id = train_image_model(client)
    dataset_id = client.get(f"/v1/jobs/{client.get(f'/v1/models/{model_id}').json()['job_id']}").json()["dataset_id"]
    return model_id, dataset_id


@pytest.fixture
def eager_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress written at every shard, so a lost claim is noticed at the next one."""
    monkeypatch.setenv("SELFSUP_PROGRESS_INTERVAL_SECONDS", "0.001")
    get_settings.cache_clear()


def expected_vectors(service_env: dict[str, str], model_id: str, dataset_id: str) -> np.ndarray:
    encoder = Encoder.load(blobs(service_env) / model_key(model_id) / ENCODER_FILE)
    return encoder.embed(np.load(blobs(service_env) / "datasets" / dataset_id / "images.npy"))


def job_of(run_id: str) -> Job:
    with session_factory()() as session:
        run = session.get_one(EmbeddingRun, run_id)
        return session.get_one(Job, run.job_id)


def test_the_vectors_are_the_encoders_with_hashes_labels_and_a_summary(
    client: TestClient, service_env: dict[str, str], trained: tuple[str, str]
) -> None:
    model_id, dataset_id = trained
    run = run_to_the_end(client, model_id, dataset_id, dtype="float32")
    folder = blobs(service_env) / "embedding-runs" / run["id"]
    vectors = np.load(folder / "vectors.npy")
    assert vectors.dtype == np.float32 and vectors.shape == (64, run["dim"]) and run["num_items"] == 64
    np.testing.assert_allclose(vectors, expected_vectors(service_env, model_id, dataset_id), atol=1e-5)
    hashes = np.load(folder / "hashes.npy")
    assert hashes.dtype == np.uint64 and len(set(hashes.tolist())) == len(hashes)  # 64 distinct digits
    labels = np.load(folder / "labels.npy")
    assert labels.shape == (64,) and (labels >= 0).all() and len(set(labels.tolist())) > 1
    assert run["progress"] == {"items_done": 64, "items_total": 64} and run["size_bytes"] > vectors.nbytes
    assert not (blobs(service_env) / SHARDS_PREFIX).exists() or not any((blobs(service_env) / SHARDS_PREFIX).iterdir())


def test_a_retried_attempt_resumes_after_the_last_finished_shard(
    client: TestClient,
    service_env: dict[str, str],
    trained: tuple[str, str],
    eager_progress: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model_id, dataset_id = trained
    run = start_run(client, model_id, dataset_id)
    saved: list[int] = []
    save = StoredShards.save

    def save_then_lose_the_claim_after_the_first(shards: StoredShards, index: int, *args: Any) -> None:
        save(shards, index, *args)
        saved.append(index)
        if saved == [0]:  # the reaper gives the job away, as if this worker had stalled
            with session_factory()() as session:
                reap(session, max_attempts=3, redispatch_after=60, now=utcnow() + timedelta(hours=1))

    monkeypatch.setattr(StoredShards, "save", save_then_lose_the_claim_after_the_first)
    assert embed_pending(SHARD) == ["lease_lost", "succeeded"]
    assert saved == [0, 1, 2, 3], "the second attempt starts at shard 1: shard 0 is not computed again"
    job = job_of(run["id"])
    assert job.status == "succeeded" and job.attempts == 2
    vectors = np.load(blobs(service_env) / "embedding-runs" / run["id"] / "vectors.npy")
    assert vectors.dtype == np.float16
    np.testing.assert_allclose(vectors, expected_vectors(service_env, model_id, dataset_id), atol=1e-3)


def test_a_cancel_ends_the_run_after_the_shard_in_hand_and_drops_its_shards(
    client: TestClient,
    service_env: dict[str, str],
    trained: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model_id, dataset_id = trained
    run = start_run(client, model_id, dataset_id)
    save = StoredShards.save

    def save_then_cancel(shards: StoredShards, index: int, *args: Any) -> None:
        save(shards, index, *args)
        assert client.post(f"/v1/embedding-runs/{run['id']}/cancel").status_code == 202

    monkeypatch.setattr(StoredShards, "save", save_then_cancel)
    outcomes = embed_pending(SHARD)
    assert outcomes == ["canceled"]
    shown = client.get(f"/v1/embedding-runs/{run['id']}").json()
    assert shown["status"] == "canceled" and shown["progress"]["items_done"] < 64
    assert not (blobs(service_env) / "embedding-runs" / run["id"]).exists()
    assert not (blobs(service_env) / SHARDS_PREFIX / run["id"]).exists()
    assert client.get(f"/v1/embedding-runs/{run['id']}/vectors").status_code == 409


def test_a_run_that_keeps_failing_is_retried_then_failed_naming_the_error(
    client: TestClient, service_env: dict[str, str], trained: tuple[str, str]
) -> None:
    model_id, dataset_id = trained
    run = start_run(client, model_id, dataset_id)
    images = blobs(service_env) / "datasets" / dataset_id / "images.npy"
    np.save(images, np.zeros((64, 3), np.float32))  # the canonical file damaged after the run was accepted
    assert embed_pending(SHARD) == ["requeued", "requeued", "failed"]
    shown = client.get(f"/v1/embedding-runs/{run['id']}").json()
    assert shown["status"] == "failed" and "not a canonical image array" in shown["error"]
    assert "gave up after 3 attempts" in shown["error"]
    assert not (blobs(service_env) / SHARDS_PREFIX / run["id"]).exists()
