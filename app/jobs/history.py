"""A job's metrics history, kept bounded: a long run's step points are thinned, oldest first.

Each time a job's step points pass the cap, every other point of the oldest half is deleted. The recent
half stays at full resolution and older stretches grow sparser the older they are, so a run of any length
keeps its whole shape in at most ``cap`` step points. Epoch and final points are never thinned.
"""

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.jobs.orm import JobMetric

METRICS_HISTORY_CAP = 2000


def thin_step_points(session: Session, *, job_id: str, cap: int = METRICS_HISTORY_CAP) -> int:
    """Thin the job's step points if there are more than ``cap``; returns how many were deleted."""
    is_step = (JobMetric.job_id == job_id, JobMetric.kind == "step")
    count = int(session.scalar(select(func.count()).select_from(JobMetric).where(*is_step)) or 0)
    if count <= cap:
        return 0
    oldest_half = list(session.scalars(select(JobMetric.id).where(*is_step).order_by(JobMetric.id).limit(count // 2)))
    doomed = oldest_half[1::2]  # keeps the very first point: where the run started
    session.execute(delete(JobMetric).where(JobMetric.id.in_(doomed)))
    return len(doomed)
