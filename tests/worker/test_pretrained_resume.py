"""A job that continues from a pretrained model resumes on a host whose pretrained folder is elsewhere."""

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.db import session_factory, utcnow
from app.jobs.lease import reap
from app.jobs.orm import Job
from tests.app.test_text_api import corpus, install_tiny_bert, jsonl, upload
from tests.conftest import reset_service_caches
from tests.support.jobs import run_until_first_epoch_then_cancel
from worker.training import run_job

PARAMS = {"pretrained": "tiny-bert", "epochs": 3, "batch_size": 32, "max_length": 48, "lr": 3e-5}


def lose_the_worker(job_id: str) -> None:
    """Put the job where it is when its worker vanished after a checkpoint (running, lease expired, no cancel);
    the reaper then requeues it for another worker."""
    with session_factory()() as session:
        job = session.get_one(Job, job_id)
        job.status, job.lease_expires_at, job.cancel_requested, job.finished_at = "running", utcnow(), False, None
        session.commit()
        assert job_id in reap(session, max_attempts=3, redispatch_after=60)


def test_a_resume_finds_the_pretrained_model_by_name_on_another_host(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install_tiny_bert("tiny-bert", tmp_path / "hub")
    dataset = upload(client, jsonl(*corpus(120)), "docs.jsonl")
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "mlm", "params": PARAMS}).json()["id"]
    run_until_first_epoch_then_cancel(job_id, worker_name="host-a")  # leaves a checkpoint to resume from
    checkpoint = get_settings().blob_dir / "jobs" / job_id / "checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["params"]["pretrained"] == "tiny-bert", "a name, not a path"

    lose_the_worker(job_id)
    moved = tmp_path / "mounted-elsewhere"
    get_settings().data_dir.rename(moved)  # host B mounts the same storage at another path
    monkeypatch.setenv("SELFSUP_DATA_DIR", str(moved))
    reset_service_caches()
    assert run_job(job_id, settings=get_settings(), worker_name="host-b") == "succeeded"
    with session_factory()() as session:
        job = session.get_one(Job, job_id)
        assert job.status == "succeeded" and job.attempts == 2, job.error
