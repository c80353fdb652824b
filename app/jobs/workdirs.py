"""Jobs' working directories (``jobs/<id>/``: checkpoint, caches): where they live and when they go.

A succeeded job keeps only its exported encoder, so its directory goes as soon as the model is registered. A
failed or canceled job's checkpoint is kept for a while (to inspect it, or to learn what was lost) and then
removed by the reaper. Removal deletes the files first and records it after, so a crash in between only
means the next round deletes nothing again.
"""

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.core.storage import Storage
from app.jobs.orm import Job

PURGE_BATCH = 100  # directories per reaper round, so one round stays short after a long outage


def workdir_key(job_id: str) -> str:
    return f"jobs/{job_id}"


def remove_workdirs(session: Session, *, storage: Storage, job_ids: list[str], now: datetime) -> None:
    """Delete the directories, then record that they are gone and no longer count toward stored bytes."""
    for job_id in job_ids:
        storage.delete(workdir_key(job_id))
    if job_ids:
        session.execute(update(Job).where(Job.id.in_(job_ids)).values(checkpoint_bytes=0, workdir_removed_at=now))
        session.commit()


def purge_expired_workdirs(session: Session, *, storage: Storage, now: datetime, retention_seconds: float) -> list[str]:
    """Remove failed and canceled jobs' directories older than the retention, and any succeeded job's that a
    worker did not get to (it died between registering the model and removing the directory)."""
    cutoff = now - timedelta(seconds=retention_seconds)
    expired = and_(Job.status.in_(("failed", "canceled")), Job.finished_at < cutoff)
    query = (
        select(Job.id)
        .where(Job.workdir_removed_at.is_(None), or_(Job.status == "succeeded", expired))
        .order_by(Job.finished_at)
        .limit(PURGE_BATCH)
    )
    job_ids = list(session.scalars(query))
    session.rollback()  # end the read before the slow part: no transaction is held while files are deleted
    remove_workdirs(session, storage=storage, job_ids=job_ids, now=now)
    return job_ids
