"""Checkpoint writes fenced by the claim: a superseded attempt (a zombie) cannot replace its successor's file."""

from pathlib import Path

import numpy as np
import pytest

from app.core.db import session_factory, session_scope, utcnow
from app.core.storage import LocalStorage, Storage
from app.core.storage.s3 import S3Storage
from app.datasets.orm import Dataset
from app.jobs.lease import Claim, claim_job, reap
from app.jobs.orm import Job
from selfsup.methods import get_method
from selfsup.train.loop import Trainer
from tests.support import s3
from tests.support.s3 import ChildProcess
from worker.checkpoints import StoredCheckpoint
from worker.heartbeat import Heartbeat, LeaseLost
from worker.training import JobHooks

PARAMS = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 4}


@pytest.fixture
def claims(service_env: dict[str, str]) -> tuple[Claim, Claim]:
    """The job's first claim, lost to the reaper, and the second that replaced it."""
    with session_scope() as session:
        session.add(
            Dataset(id="ds_1", tenant="acme", name="d", modality="image", num_items=8, size_bytes=1, storage_key="k")
        )
        session.flush()
        session.add(Job(id="job_1", tenant="acme", dataset_id="ds_1", method="simclr", params={}, epochs=1, metrics={}))
    with session_factory()() as session:
        first = claim_job(session, job_id="job_1", worker="zombie", lease_seconds=30)
        session.get_one(Job, "job_1").lease_expires_at = utcnow()
        session.commit()
        assert reap(session, max_attempts=3, redispatch_after=60) == ["job_1"]
        second = claim_job(session, job_id="job_1", worker="heir", lease_seconds=30)
    assert first is not None and second is not None
    return first, second


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Storage, Path]:
    """The job's store and its local working folder: in the store itself (embedded) or apart from it (S3)."""
    if request.param == "file":
        return LocalStorage(tmp_path), tmp_path / "jobs" / "job_1"
    server: ChildProcess = request.getfixturevalue("s3_server")
    bucket = s3.new_bucket(server.url)
    return S3Storage(s3.client(server.url), bucket=bucket, prefix="", staging_root=tmp_path), tmp_path / "work"


def trainer_for(claim: Claim, storage: Storage, workdir: Path) -> Trainer:
    hooks = JobHooks(
        claim, Heartbeat(claim, lease_seconds=30), interval=60, checkpoint=StoredCheckpoint(storage, "job_1")
    )
    images = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    params = get_method("simclr").validate(PARAMS)
    return Trainer("simclr", params, images, workdir=workdir, device="cpu", hooks=hooks, probe_size=0)


def stored(storage: Storage, tmp_path: Path) -> bytes:
    storage.fetch_file("jobs/job_1/checkpoint.pt", tmp_path / "fetched.pt")
    return (tmp_path / "fetched.pt").read_bytes()


def test_only_the_attempt_holding_the_lease_publishes_a_checkpoint(
    claims: tuple[Claim, Claim], store: tuple[Storage, Path], tmp_path: Path
) -> None:
    (storage, workdir), (zombie, heir) = store, claims
    published = trainer_for(heir, storage, workdir).save_checkpoint()
    before = published.read_bytes()
    assert stored(storage, tmp_path) == before, "the heir's checkpoint is in storage, for any host to resume"
    stale = trainer_for(zombie, storage, workdir)
    stale.train_step(np.arange(4))  # the zombie moved on: its checkpoint would differ from the heir's
    with pytest.raises(LeaseLost):
        stale.save_checkpoint()
    assert published.read_bytes() == before, "the zombie's write did not replace the heir's checkpoint"
    assert stored(storage, tmp_path) == before, "nor the stored one"
    assert sorted(p.name for p in workdir.iterdir()) == ["checkpoint.pt"], "no temporary file is left behind"
