"""Embedding run domain logic. Functions take keyword-only arguments and a session they do not own."""

from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.core.queries import get_owned
from app.embedding_runs.orm import EmbeddingRun
from app.jobs.orm import Job


def get_run(session: Session, *, tenant: str, run_id: str) -> EmbeddingRun:
    """The run, or 404 whether it is missing or another tenant's."""
    return get_owned(session, EmbeddingRun, run_id, tenant=tenant, kind="embedding run")


def run_status(session: Session, run: EmbeddingRun) -> str:
    job = session.get(Job, run.job_id)
    return job.status if job is not None else "failed"


def ready_run(session: Session, *, tenant: str, run_id: str) -> EmbeddingRun:
    """The run if its vectors are stored, else 409 naming its status."""
    run = get_run(session, tenant=tenant, run_id=run_id)
    status = run_status(session, run)
    if status != "succeeded":
        raise Conflict(f"embedding run {run_id!r} is {status}; its vectors are there once it has succeeded")
    return run
