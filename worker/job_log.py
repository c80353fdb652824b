"""JSON lines for what happens to a job in this worker: claimed, epoch, and how the attempt ended."""

from collections.abc import Callable

from sqlalchemy import select

from app.core.access_log import log_job_event
from app.core.db import session_factory
from app.jobs.lease import Claim
from app.jobs.orm import Job


def job_tenant(job_id: str) -> str | None:
    with session_factory()() as session:
        return session.scalar(select(Job.tenant).where(Job.id == job_id))


def logged_attempt(claim: Claim, *, kind: str, attempt: Callable[[], str]) -> str:
    """Run ``attempt`` (returns the outcome: succeeded, failed, canceled, requeued, lease_lost), logging the
    claim before and the outcome after."""
    tenant = job_tenant(claim.job_id)
    log_job_event("claimed", job_id=claim.job_id, tenant=tenant, kind=kind, attempt=claim.attempt)
    outcome = attempt()
    log_job_event(outcome, job_id=claim.job_id, tenant=tenant, kind=kind, attempt=claim.attempt)
    return outcome
