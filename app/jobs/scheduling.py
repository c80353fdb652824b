"""Which queued job a free worker takes next: fair between tenants, not first come first served.

A doorbell says only that some job may be waiting. The worker that answers it picks the job here, so that one
tenant's thirty queued jobs do not make another tenant's single job wait behind all of them.
"""

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.jobs.lease import Claim, claim_job
from app.jobs.orm import Job

log = logging.getLogger(__name__)

CLAIM_TRIES = 5  # each lost race means another worker took a job: the queue moved, so this ends quickly


def next_fair_job(session: Session, *, kind: str = "train") -> str | None:
    """The claimable job of ``kind`` to run next: from the tenant with the fewest running jobs of that kind, ties
    going to the tenant served least recently (never served first), then that tenant's oldest queued job."""
    running = (
        select(Job.tenant, func.count().label("running"))
        .where(Job.status == "running", Job.kind == kind)
        .group_by(Job.tenant)
        .subquery()
    )
    served = (
        select(Job.tenant, func.max(Job.started_at).label("last_start"))
        .where(Job.kind == kind)
        .group_by(Job.tenant)
        .subquery()
    )
    query = (
        select(Job.id)
        .outerjoin(running, running.c.tenant == Job.tenant)
        .outerjoin(served, served.c.tenant == Job.tenant)
        .where(Job.status == "queued", Job.kind == kind, Job.cancel_requested.is_(False))
        .order_by(
            func.coalesce(running.c.running, 0),
            served.c.last_start.asc().nulls_first(),
            Job.created_at,
            Job.id,
        )
        .limit(1)
    )
    job_id = session.scalar(query)
    session.rollback()  # end the read: the claim is a separate conditional write
    return job_id


def claim_next(
    session: Session, *, worker: str, lease_seconds: float, hint: str | None = None, kind: str = "train"
) -> Claim | None:
    """Claim the fairest queued job of ``kind``, choosing again when another worker wins the race for it; None
    when nothing is left. ``hint`` (the doorbell's job id) is only logged: the database decides."""
    for _ in range(CLAIM_TRIES):
        job_id = next_fair_job(session, kind=kind)
        if job_id is None:
            return None
        claim = claim_job(session, job_id=job_id, worker=worker, lease_seconds=lease_seconds, kind=kind)
        if claim is not None:
            if job_id != hint:
                log.info("doorbell for %s: job %s is next in fair order", hint, job_id)
            return claim
    return None
