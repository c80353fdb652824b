"""Checkpoint writes fenced by the claim: a superseded attempt (a zombie) cannot replace its successor's file."""

from pathlib import Path

import numpy as np
import pytest

from app.core.db import session_factory, session_scope, utcnow
from app.core.storage import LocalStorage
from app.datasets.orm import Dataset
from app.jobs.lease import Claim, claim_job, reap
from app.jobs.orm import Job
from selfsup.methods import get_method
from selfsup.train.loop import Trainer
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


def trainer_for(claim: Claim, workdir: Path) -> Trainer:
    checkpoint = StoredCheckpoint(LocalStorage(workdir.parent), claim.job_id)
    hooks = JobHooks(claim, Heartbeat(claim, lease_seconds=30), interval=60, checkpoint=checkpoint)
    images = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    params = get_method("simclr").validate(PARAMS)
    return Trainer("simclr", params, images, workdir=workdir, device="cpu", hooks=hooks, probe_size=0)


def test_only_the_attempt_holding_the_lease_publishes_a_checkpoint(claims: tuple[Claim, Claim], tmp_path: Path) -> None:
    zombie, heir = claims
    published = trainer_for(heir, tmp_path).save_checkpoint()
    before = published.read_bytes()
    stale = trainer_for(zombie, tmp_path)
    stale.train_step(np.arange(4))  # the zombie moved on: its checkpoint would differ from the heir's
    with pytest.raises(LeaseLost):
        stale.save_checkpoint()
    assert published.read_bytes() == before, "the zombie's write did not replace the heir's checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"], "no temporary file is left behind"
