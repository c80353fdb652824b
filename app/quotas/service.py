"""Per-tenant limits, counted from the database so that they hold across any number of API processes.

A check and the write it guards run in one transaction under a per-tenant lock (a PostgreSQL advisory lock,
released at commit or rollback), so two processes cannot both take the last slot. SQLite runs embedded, with
one API process whose writes the database already serializes.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.classifiers.orm import Classifier
from app.core.config import Settings
from app.core.db import db_now
from app.core.ids import new_id
from app.datasets.orm import Dataset
from app.embedding_runs.orm import EmbeddingRun
from app.jobs.orm import Job
from app.models.orm import RegisteredModel
from app.quotas.errors import QuotaExceeded
from app.quotas.orm import Upload
from app.uploads.orm import ResumableUpload

ACTIVE_JOB_STATES = ("queued", "running")
# The kinds a tenant starts at will and that occupy a worker for long; ingests are bounded by their uploads.
QUOTA_JOB_KINDS = ("train", "embed", "classify")
# Training jobs take minutes; asking again sooner than this only adds load. Uploads end within seconds.
JOB_RETRY_AFTER_SECONDS = 60
UPLOAD_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True)
class TenantLimits:
    max_active_jobs: int
    max_stored_bytes: int
    max_uploads: int
    upload_stale_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "TenantLimits":
        return cls(
            max_active_jobs=settings.tenant_max_active_jobs,
            max_stored_bytes=settings.tenant_max_stored_bytes,
            max_uploads=settings.tenant_max_uploads,
            upload_stale_seconds=settings.upload_stale_seconds,
        )


def lock_tenant(session: Session, *, tenant: str) -> None:
    """Serialize this tenant's quota checks until the session's transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_lock_key(tenant))))


def _lock_key(tenant: str) -> int:
    digest = hashlib.sha256(f"selfsup-quota:{tenant}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)  # advisory locks take a signed 64-bit key


def active_jobs(session: Session, *, tenant: str) -> int:
    """Training jobs, embedding runs and classifier training (``QUOTA_JOB_KINDS``)."""
    query = (
        select(func.count())
        .select_from(Job)
        .where(Job.tenant == tenant, Job.kind.in_(QUOTA_JOB_KINDS), Job.status.in_(ACTIVE_JOB_STATES))
    )
    return int(session.scalar(query) or 0)


def stored_bytes(session: Session, *, tenant: str) -> int:
    """Datasets, models, embedding runs' vectors, classifiers, job working directories (checkpoints) and
    unfinished resumable uploads, in one query."""
    datasets = select(func.coalesce(func.sum(Dataset.size_bytes), 0)).where(Dataset.tenant == tenant)
    runs = select(func.coalesce(func.sum(EmbeddingRun.size_bytes), 0)).where(EmbeddingRun.tenant == tenant)
    classifiers = select(func.coalesce(func.sum(Classifier.size_bytes), 0)).where(Classifier.tenant == tenant)
    models = select(func.coalesce(func.sum(RegisteredModel.size_bytes), 0)).where(RegisteredModel.tenant == tenant)
    jobs = select(func.coalesce(func.sum(Job.checkpoint_bytes), 0)).where(Job.tenant == tenant)
    uploads = select(func.coalesce(func.sum(ResumableUpload.received_bytes), 0)).where(
        ResumableUpload.tenant == tenant, ResumableUpload.status.in_(("open", "completed"))
    )
    runs_classifiers = runs.scalar_subquery() + classifiers.scalar_subquery()
    datasets_models = datasets.scalar_subquery() + models.scalar_subquery() + runs_classifiers
    total = session.scalar(select(datasets_models + jobs.scalar_subquery() + uploads.scalar_subquery()))
    return int(total or 0)


def uploads_in_progress(session: Session, *, tenant: str) -> int:
    query = select(func.count()).select_from(Upload).where(Upload.tenant == tenant, Upload.expires_at > db_now(session))
    return int(session.scalar(query) or 0)


def check_job_allowed(session: Session, *, tenant: str, limits: TenantLimits) -> None:
    """Before submitting a job; takes the tenant's lock, which the caller's commit of the job releases."""
    lock_tenant(session, tenant=tenant)
    active = active_jobs(session, tenant=tenant)
    if active >= limits.max_active_jobs:
        raise QuotaExceeded(
            f"too many active jobs: {active} queued or running, and the limit is {limits.max_active_jobs} "
            "per tenant; submit again when one finishes or cancel one",
            retry_after=JOB_RETRY_AFTER_SECONDS,
        )
    check_stored_bytes(session, tenant=tenant, limits=limits)


def check_stored_bytes(session: Session, *, tenant: str, limits: TenantLimits, adding: int = 0) -> None:
    """Refuse when the tenant is full, or when ``adding`` more bytes would take it past its limit.

    No Retry-After: stored bytes do not free up by themselves; the tenant has to delete something.
    """
    used = stored_bytes(session, tenant=tenant)
    limit = limits.max_stored_bytes
    if used + adding > limit or used >= limit:
        what = f"this adds {adding} bytes to the {used}" if adding else f"{used} bytes are"
        raise QuotaExceeded(
            f"storage limit reached: {what} stored, and the limit is {limit} bytes per tenant "
            "(datasets, models and their exports, checkpoints, unfinished uploads); delete datasets, models or uploads "
            "to make room"
        )


def begin_upload(session: Session, *, tenant: str, limits: TenantLimits) -> str:
    """Take an upload slot and commit it, before any of the upload is read; returns the slot's id.

    The commit also hands the session's connection back to the pool for the long part that follows.
    """
    lock_tenant(session, tenant=tenant)
    now = db_now(session)  # slots are stamped by one API host and judged by others
    session.execute(delete(Upload).where(Upload.expires_at <= now))  # slots of API processes that died
    running = uploads_in_progress(session, tenant=tenant)
    if running >= limits.max_uploads:
        raise QuotaExceeded(
            f"too many uploads in progress: {running}, and the limit is {limits.max_uploads} per tenant; "
            "retry when one ends",
            retry_after=UPLOAD_RETRY_AFTER_SECONDS,
        )
    check_stored_bytes(session, tenant=tenant, limits=limits)
    upload_id = new_id("upl")
    expires = now + timedelta(seconds=limits.upload_stale_seconds)
    session.add(Upload(id=upload_id, tenant=tenant, started_at=now, expires_at=expires))
    session.commit()
    return upload_id


def end_upload(session: Session, *, upload_id: str) -> None:
    """Free the slot, whether the upload became a dataset or failed."""
    if session.in_transaction():
        session.rollback()  # a failed upload may have left it unusable; a rollback after success would only expire
    session.execute(delete(Upload).where(Upload.id == upload_id))
    session.commit()
