"""Rows that their job fills as it ends (an embedding run's item count, a classifier's classes), read with the job.

The worker ends the job and fills its row in one transaction, but under READ COMMITTED every statement reads its
own snapshot: a row read first and its job read next can straddle that commit, and a client polling the run sees
``succeeded`` beside ``num_items: 0``. Read by one statement, the pair always comes from one snapshot.
"""

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.jobs.orm import Job


class JobFilled(Protocol):
    id: Any
    tenant: Any
    job_id: Any
    created_at: Any


R = TypeVar("R", bound=JobFilled)


def owned_with_job(session: Session, cls: type[R], row_id: str, *, tenant: str, kind: str) -> tuple[R, Job]:
    """The row and its job, or 404 whether the row does not exist or belongs to another tenant."""
    # populate_existing: a row this session already holds is read again, not served from its identity map.
    query = _with_job(cls).where(cls.id == row_id).execution_options(populate_existing=True)
    found = session.execute(query).one_or_none()
    if found is None or found[0].tenant != tenant:
        raise NotFound(f"{kind} {row_id!r} not found")
    return found[0], found[1]


def page_with_jobs(
    session: Session, cls: type[R], *, tenant: str, limit: int, offset: int
) -> tuple[list[tuple[R, Job]], int]:
    """One page of the tenant's rows with their jobs, newest first, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(cls).where(cls.tenant == tenant)) or 0
    query = _with_job(cls).where(cls.tenant == tenant).order_by(cls.created_at.desc(), cls.id)
    return [(row, job) for row, job in session.execute(query.limit(limit).offset(offset))], total


def _with_job(cls: type[R]) -> Select[R, Job]:
    return select(cls, Job).join(Job, Job.id == cls.job_id)
