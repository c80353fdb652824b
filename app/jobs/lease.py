"""The worker side of a job's life: claim, renew, report, finish, and reaping of lost claims.

Every write is a conditional UPDATE fenced by the claim's attempt number, so a worker that lost its lease
(it stalled, the reaper gave the job to another worker) can no longer change the row: its writes match
nothing, it learns that it lost, and it stops.

Every time a lease is stamped or judged comes from the database's clock (:func:`db_now`): the worker that
stamps a lease and the reaper that judges it run on different hosts, whose clocks need not agree.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.core.db import affected_rows, db_now
from app.jobs.history import METRICS_HISTORY_CAP, thin_step_points
from app.jobs.orm import Job, JobMetric


@dataclass(frozen=True)
class Claim:
    job_id: str
    attempt: int


@dataclass(frozen=True)
class LeaseStatus:
    held: bool
    cancel_requested: bool


def _fenced(claim: Claim) -> Any:
    return and_(Job.id == claim.job_id, Job.status == "running", Job.attempts == claim.attempt)


def claim_job(session: Session, *, job_id: str, worker: str, lease_seconds: float, kind: str = "train") -> Claim | None:
    """queued -> running in one conditional UPDATE; None if another delivery or worker got there first, or if
    the job is not of ``kind`` (a worker runs only the kinds it has the code and the hardware for)."""
    now = db_now(session)
    claimed = affected_rows(
        session,
        update(Job)
        .where(Job.id == job_id, Job.kind == kind, Job.status == "queued", Job.cancel_requested.is_(False))
        .values(
            status="running",
            attempts=Job.attempts + 1,
            worker=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            started_at=now,
            phase="training",
            eta_seconds=None,
        ),
    )
    session.commit()
    if not claimed:
        return None
    attempt = session.scalar(select(Job.attempts).where(Job.id == job_id))
    return Claim(job_id, int(attempt or 0))


def renew_lease(session: Session, *, claim: Claim, lease_seconds: float) -> LeaseStatus:
    expires = db_now(session) + timedelta(seconds=lease_seconds)
    held = affected_rows(session, update(Job).where(_fenced(claim)).values(lease_expires_at=expires))
    session.commit()
    cancel = bool(session.scalar(select(Job.cancel_requested).where(Job.id == claim.job_id)))
    return LeaseStatus(held=bool(held), cancel_requested=cancel)


def cancel_requested(session: Session, *, job_id: str) -> bool:
    """One indexed read, cheap enough to poll every second or so while a job trains."""
    requested = bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
    session.rollback()  # end the read's transaction: a poller must not hold one open between polls
    return requested


def report_counters(session: Session, *, claim: Claim, metrics: dict[str, Any]) -> bool:
    """Replace the job's latest ``metrics`` (counters without a history: an ingest's items and bytes), fenced
    like every write; False when the claim is no longer held."""
    written = affected_rows(session, update(Job).where(_fenced(claim)).values(metrics=metrics))
    session.commit()
    return bool(written)


def holds_claim(session: Session, *, claim: Claim) -> bool:
    """Whether ``claim`` is still the job's current one, e.g. before publishing a file that only it may write."""
    held = session.scalar(select(Job.id).where(_fenced(claim))) is not None
    session.rollback()
    return held


def record_progress(
    session: Session,
    *,
    claim: Claim,
    epoch: int,
    step: int,
    total_steps: int,
    metrics: dict[str, Any],
    kind: str,
    checkpoint_bytes: int | None = None,
    eta_seconds: float | None = None,
    epochs: int | None = None,
    history_cap: int = METRICS_HISTORY_CAP,
) -> LeaseStatus:
    """Write the latest counters and metrics and append them to the history, thinned to ``history_cap`` step
    points; ``checkpoint_bytes``, when given, is what the job's working directory now holds; ``eta_seconds``
    the worker's estimate of the training time left (None: unknown); ``epochs``, when given, the run's epochs
    (a ``max_minutes`` run's, once planned).

    Reports, like a renewal, whether the claim is still held and whether a cancel was asked for: progress is
    written every few seconds, so a cancel is noticed within a few steps rather than at the next renewal.
    """
    values: dict[str, Any] = {
        "epoch": epoch,
        "step": step,
        "total_steps": total_steps,
        "metrics": metrics,
        "eta_seconds": eta_seconds,
    }
    if checkpoint_bytes is not None:
        values["checkpoint_bytes"] = checkpoint_bytes
    if epochs is not None:
        values["epochs"] = epochs
    written = affected_rows(session, update(Job).where(_fenced(claim)).values(**values))
    if written:
        session.add(
            JobMetric(job_id=claim.job_id, attempt=claim.attempt, epoch=epoch, step=step, kind=kind, values=metrics)
        )
        session.flush()
        thin_step_points(session, job_id=claim.job_id, cap=history_cap)
    session.commit()
    cancel = bool(session.scalar(select(Job.cancel_requested).where(Job.id == claim.job_id)))
    return LeaseStatus(held=bool(written), cancel_requested=cancel)


def enter_phase(session: Session, *, claim: Claim, phase: str) -> bool:
    """Say what the attempt does now (``evaluating``, ``exporting``); False when the claim is no longer held."""
    entered = affected_rows(session, update(Job).where(_fenced(claim)).values(phase=phase, eta_seconds=None))
    session.commit()
    return bool(entered)


def finish_claim(session: Session, *, claim: Claim, status: str, error: str | None = None, **values: Any) -> bool:
    """End the job as ``status``; the caller commits (so a model row can join the same transaction)."""
    return bool(
        affected_rows(
            session,
            update(Job)
            .where(_fenced(claim))
            .values(status=status, error=error, finished_at=db_now(session), lease_expires_at=None, **values),
        )
    )


def release_for_retry(session: Session, *, claim: Claim, error: str, max_attempts: int, retry: bool = True) -> str:
    """After a failed attempt, the job's new status: ``queued`` again if attempts remain (and ``retry``: the
    error may not recur), else ``failed`` for good; ``canceled`` if a cancel was asked for meanwhile (a requeued
    job with that flag could never be claimed again and would be re-rung forever). Empty if the claim was no
    longer held."""
    canceled = affected_rows(
        session,
        update(Job)
        .where(_fenced(claim), Job.cancel_requested.is_(True))
        .values(status="canceled", error=error, finished_at=db_now(session), lease_expires_at=None),
    )
    if canceled:
        session.commit()
        return "canceled"
    if not retry or claim.attempt >= max_attempts:
        message = f"{error} (gave up after {claim.attempt} attempts)" if retry else error
        failed = finish_claim(session, claim=claim, status="failed", error=message)
        session.commit()
        return "failed" if failed else ""
    requeued = affected_rows(
        session,
        update(Job).where(_fenced(claim)).values(status="queued", error=error, lease_expires_at=None, worker=None),
    )
    session.commit()
    return "queued" if requeued else ""


def reap(session: Session, *, max_attempts: int, redispatch_after: float, now: datetime | None = None) -> list[str]:
    """Handle expired leases and silent queued jobs; return the ids whose doorbell must ring again.

    ``now`` is the database's clock unless given (tests move it forward to expire things without waiting).
    """
    now = now or db_now(session)
    _end_lost_jobs(session, now=now, max_attempts=max_attempts)
    requeued = session.scalars(
        update(Job)
        .where(Job.status == "running", Job.lease_expires_at < now, Job.attempts < max_attempts)
        .values(status="queued", worker=None, lease_expires_at=None, error="worker lost; resuming from checkpoint")
        .returning(Job.id)
    ).all()
    stale = session.scalars(
        select(Job.id).where(
            Job.status == "queued",
            or_(Job.dispatched_at.is_(None), Job.dispatched_at < now - timedelta(seconds=redispatch_after)),
        )
    ).all()
    ids = sorted(set(requeued) | set(stale))
    if ids:
        session.execute(update(Job).where(Job.id.in_(ids)).values(dispatched_at=now))
    session.commit()
    return ids


def _end_lost_jobs(session: Session, *, now: datetime, max_attempts: int) -> None:
    expired = and_(Job.status == "running", Job.lease_expires_at < now)
    # A queued job flagged for cancel (requeued by an older release) can never be claimed: end it, don't re-ring.
    session.execute(
        update(Job)
        .where(or_(expired, Job.status == "queued"), Job.cancel_requested.is_(True))
        .values(status="canceled", finished_at=now, lease_expires_at=None)
    )
    session.execute(
        update(Job)
        .where(expired, Job.attempts >= max_attempts)
        .values(
            status="failed",
            finished_at=now,
            lease_expires_at=None,
            error=f"the worker was lost {max_attempts} times; giving up",
        )
    )
