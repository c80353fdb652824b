"""The reaper's clean-up of ended jobs' working directories, run directly against PostgreSQL and real files."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.core import config
from app.core.config import Settings
from app.core.db import session_factory, session_scope, utcnow
from app.core.storage import LocalStorage
from app.jobs.orm import Job
from app.jobs.workdirs import purge_expired_workdirs, workdir_key
from worker.reaper import purge_once

HOUR = timedelta(hours=1)


@pytest.fixture
def settings(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SELFSUP_FAILED_JOB_RETENTION_SECONDS", "3600")
    config.get_settings.cache_clear()
    return config.get_settings()


def add_job(settings: Settings, job_id: str, status: str, finished: datetime | None) -> Path:
    """A job row whose working directory holds a 1000-byte checkpoint, as its worker left it."""
    with session_scope() as session:
        session.add(
            Job(
                id=job_id,
                tenant="acme",
                method="simclr",
                params={},
                epochs=1,
                metrics={},
                status=status,
                finished_at=finished,
                checkpoint_bytes=1000,
            )
        )
    workdir = LocalStorage(settings.blob_dir).path(workdir_key(job_id))
    workdir.mkdir(parents=True)
    (workdir / "checkpoint.pt").write_bytes(b"x" * 1000)
    return workdir


def job(job_id: str) -> Job:
    with session_factory()() as session:
        return session.get_one(Job, job_id)


def test_failed_and_canceled_checkpoints_are_kept_for_the_retention_then_removed(settings: Settings) -> None:
    now = utcnow()
    old_failed = add_job(settings, "job_old_failed", "failed", now - 2 * HOUR)
    old_canceled = add_job(settings, "job_old_canceled", "canceled", now - 2 * HOUR)
    recent = add_job(settings, "job_recent", "canceled", now - HOUR / 2)
    running = add_job(settings, "job_running", "running", None)
    queued = add_job(settings, "job_requeued", "queued", None)  # a retry resumes from this checkpoint

    assert sorted(purge_once(settings)) == ["job_old_canceled", "job_old_failed"]
    assert not old_failed.exists() and not old_canceled.exists()
    assert recent.exists() and running.exists() and queued.exists()
    assert job("job_old_failed").checkpoint_bytes == 0, "removed bytes stop counting toward the quota"
    assert job("job_old_failed").workdir_removed_at is not None
    assert job("job_recent").checkpoint_bytes == 1000

    assert purge_once(settings) == [], "a removed directory is not looked at again"
    with session_factory()() as session:
        storage = LocalStorage(settings.blob_dir)
        later = purge_expired_workdirs(session, storage=storage, now=now + HOUR, retention_seconds=3600)
    assert later == ["job_recent"] and not recent.exists()
    assert running.exists() and queued.exists()


def test_a_succeeded_jobs_leftover_directory_is_removed_at_once(settings: Settings) -> None:
    """A worker that died between registering the model and removing the directory leaves it to the reaper."""
    leftover = add_job(settings, "job_done", "succeeded", utcnow())
    assert purge_once(settings) == ["job_done"]
    assert not leftover.exists() and job("job_done").checkpoint_bytes == 0


def test_a_missing_directory_is_recorded_as_removed(settings: Settings) -> None:
    gone = add_job(settings, "job_gone", "failed", utcnow() - 2 * HOUR)
    (gone / "checkpoint.pt").unlink()
    gone.rmdir()
    assert purge_once(settings) == ["job_gone"]
    assert job("job_gone").workdir_removed_at is not None
