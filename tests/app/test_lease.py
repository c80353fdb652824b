"""Claims, leases, fencing and reaping against real PostgreSQL."""

import threading
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pytest
from sqlalchemy.orm import Session

import app.core.db
from app.core.db import db_now, session_factory, session_scope, utcnow
from app.datasets.orm import Dataset
from app.jobs.lease import (
    Claim,
    cancel_requested,
    claim_job,
    enter_phase,
    finish_claim,
    reap,
    record_progress,
    release_for_retry,
    renew_lease,
)
from app.jobs.orm import Job
from app.jobs.schemas import JobOut


@pytest.fixture
def job_id(service_env: dict[str, str]) -> str:
    with session_scope() as session:
        session.add(
            Dataset(id="ds_1", tenant="acme", name="d", modality="image", num_items=10, size_bytes=1, storage_key="k")
        )
        session.flush()
        session.add(Job(id="job_1", tenant="acme", dataset_id="ds_1", method="simclr", params={}, epochs=1, metrics={}))
    return "job_1"


def session() -> Session:
    return session_factory()()


def job(job_id: str) -> Job:
    with session() as s:
        return s.get_one(Job, job_id)


def expire_lease(job_id: str, **values: Any) -> None:
    with session_scope() as s:
        s.get_one(Job, job_id).lease_expires_at = utcnow() - timedelta(seconds=1)
        for key, value in values.items():
            setattr(s.get_one(Job, job_id), key, value)


def test_only_one_of_many_concurrent_claims_wins(job_id: str) -> None:
    results: list[Claim | None] = []
    barrier = threading.Barrier(8)

    def contend() -> None:
        barrier.wait()
        with session() as s:
            results.append(claim_job(s, job_id=job_id, worker="w", lease_seconds=30))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r is not None]
    assert winners == [Claim(job_id, 1)]
    assert job(job_id).status == "running" and job(job_id).attempts == 1


def test_a_stale_claim_can_no_longer_write(job_id: str) -> None:
    with session() as s:
        first = claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
    assert first is not None
    expire_lease(job_id)
    with session() as s:
        assert reap(s, now=utcnow(), max_attempts=3, redispatch_after=60) == [job_id]
        second = claim_job(s, job_id=job_id, worker="b", lease_seconds=30)
    assert second == Claim(job_id, 2)
    with session() as s:
        assert not renew_lease(s, claim=first, lease_seconds=30).held
        assert not record_progress(s, claim=first, epoch=1, step=1, total_steps=2, metrics={}, kind="step").held
        assert not finish_claim(s, claim=first, status="succeeded")
        assert renew_lease(s, claim=second, lease_seconds=30).held
    assert job(job_id).worker == "b" and job(job_id).status == "running"


def test_renewals_and_progress_writes_report_a_cancel_request(job_id: str) -> None:
    progress: dict[str, Any] = {"epoch": 0, "step": 1, "total_steps": 2, "metrics": {"loss": 1.0}, "kind": "step"}
    with session() as s:
        claim = claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
        assert claim is not None
        assert not renew_lease(s, claim=claim, lease_seconds=30).cancel_requested
        assert not record_progress(s, claim=claim, **progress).cancel_requested
        s.get_one(Job, job_id).cancel_requested = True
        s.commit()
        assert renew_lease(s, claim=claim, lease_seconds=30).cancel_requested
        assert record_progress(s, claim=claim, **progress).cancel_requested


def test_reaper_fails_a_job_that_lost_its_worker_too_often(job_id: str) -> None:
    with session() as s:
        claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
    expire_lease(job_id, attempts=3)
    with session() as s:
        assert reap(s, now=utcnow(), max_attempts=3, redispatch_after=60) == []
    assert job(job_id).status == "failed" and "lost 3 times" in (job(job_id).error or "")


def test_reaper_cancels_a_lost_job_whose_cancel_was_requested(job_id: str) -> None:
    with session() as s:
        claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
    expire_lease(job_id, cancel_requested=True)
    with session() as s:
        assert reap(s, now=utcnow(), max_attempts=3, redispatch_after=60) == []
    assert job(job_id).status == "canceled"


def test_reaper_re_rings_queued_jobs_that_nobody_claimed(job_id: str) -> None:
    now = utcnow()
    with session() as s:
        assert reap(s, now=now, max_attempts=3, redispatch_after=60) == [job_id], "never dispatched"
        assert reap(s, now=now + timedelta(seconds=30), max_attempts=3, redispatch_after=60) == []
        assert reap(s, now=now + timedelta(seconds=61), max_attempts=3, redispatch_after=60) == [job_id]


def test_release_for_retry_requeues_until_the_cap(job_id: str) -> None:
    with session() as s:
        claim = claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
        assert claim is not None
        assert release_for_retry(s, claim=claim, error="boom", max_attempts=2) == "queued"
    assert job(job_id).status == "queued" and job(job_id).error == "boom"
    with session() as s:
        claim = claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
        assert claim is not None
        assert release_for_retry(s, claim=claim, error="boom", max_attempts=2) == "failed"
    assert job(job_id).status == "failed" and job(job_id).error == "boom (gave up after 2 attempts)"


def test_a_canceled_queued_job_cannot_be_claimed(job_id: str) -> None:
    with session_scope() as s:
        s.get_one(Job, job_id).status = "canceled"
    with session() as s:
        assert claim_job(s, job_id=job_id, worker="a", lease_seconds=30) is None


def test_a_job_canceled_while_running_ends_canceled_when_its_attempt_fails(job_id: str) -> None:
    """Requeued with its cancel flag set, the job could never be claimed again and was re-rung forever."""
    with session() as s:
        claim = claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
        assert claim is not None
    with session_scope() as s:
        s.get_one(Job, job_id).cancel_requested = True
    with session() as s:
        assert release_for_retry(s, claim=claim, error="boom", max_attempts=3) == "canceled"
    assert job(job_id).status == "canceled" and job(job_id).finished_at is not None
    with session() as s:
        assert reap(s, max_attempts=3, redispatch_after=60) == [], "nothing left to re-ring"


def test_reaper_ends_a_queued_job_flagged_for_cancel_instead_of_re_ringing_it(job_id: str) -> None:
    with session_scope() as s:  # left so by a release that requeued without looking at the flag
        s.get_one(Job, job_id).cancel_requested = True
    with session() as s:
        assert reap(s, max_attempts=3, redispatch_after=60) == []
    assert job(job_id).status == "canceled"


def skew_host_clock(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    """Make this process's clock (every ``datetime.now`` the app reads through app.core.db) run ``offset``
    away from the database's, as a worker host with a drifting clock would."""

    class SkewedDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> "SkewedDatetime":
            return datetime.now(tz) + offset  # type: ignore[return-value]

    monkeypatch.setattr(app.core.db, "datetime", SkewedDatetime)


def test_leases_are_stamped_and_judged_by_the_database_clock(job_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    skew_host_clock(monkeypatch, -timedelta(hours=1))  # the worker's clock runs an hour behind
    with session() as s:
        claim = claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
        assert claim is not None
        database_now = db_now(s)
    expires = job(job_id).lease_expires_at
    assert expires is not None and timedelta(seconds=20) < expires - database_now <= timedelta(seconds=30)
    skew_host_clock(monkeypatch, timedelta(hours=1))  # the reaper's clock runs an hour ahead
    with session() as s:
        assert reap(s, max_attempts=3, redispatch_after=60) == []
        assert renew_lease(s, claim=claim, lease_seconds=30).held
    assert job(job_id).status == "running" and job(job_id).attempts == 1


def test_the_cancel_poll_sees_a_cancel_request(job_id: str) -> None:
    with session() as s:
        assert claim_job(s, job_id=job_id, worker="a", lease_seconds=30) is not None
        assert not cancel_requested(s, job_id=job_id)
    with session_scope() as s:
        s.get_one(Job, job_id).cancel_requested = True
    with session() as s:
        assert cancel_requested(s, job_id=job_id)


def test_the_phase_and_eta_follow_the_attempt_and_only_its_holder_moves_them(job_id: str) -> None:
    assert (JobOut.from_row(job(job_id)).phase, JobOut.from_row(job(job_id)).eta_seconds) == ("queued", None)
    progress: dict[str, Any] = {
        "epoch": 0,
        "step": 1,
        "total_steps": 4,
        "metrics": {},
        "kind": "step",
        "eta_seconds": 12.5,
    }
    with session() as s:
        first = claim_job(s, job_id=job_id, worker="a", lease_seconds=30)
        assert first is not None
        record_progress(s, claim=first, **progress)
    assert (JobOut.from_row(job(job_id)).phase, JobOut.from_row(job(job_id)).eta_seconds) == ("training", 12.5)
    with session() as s:
        assert enter_phase(s, claim=first, phase="evaluating")
    assert (JobOut.from_row(job(job_id)).phase, JobOut.from_row(job(job_id)).eta_seconds) == ("evaluating", None)
    expire_lease(job_id)
    with session() as s:
        reap(s, now=utcnow(), max_attempts=3, redispatch_after=60)
        assert JobOut.from_row(s.get_one(Job, job_id)).phase == "queued"
        assert claim_job(s, job_id=job_id, worker="b", lease_seconds=30) is not None
        assert not enter_phase(s, claim=first, phase="exporting"), "a superseded attempt cannot move the phase"
    assert JobOut.from_row(job(job_id)).phase == "training"
