"""Dataset domain logic. Functions take keyword-only arguments and a session they do not own."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.core.queries import get_owned, paged
from app.core.storage import Storage
from app.datasets.ingest import IngestOptions
from app.datasets.ingest_jobs import IngestSource, add_ingest
from app.datasets.orm import Dataset
from app.jobs.orm import Job
from app.jobs.service import dispatch
from app.quotas import service as quotas

ACTIVE_JOB_STATES = ("queued", "running")


def create_dataset(
    session: Session,
    *,
    dataset_id: str,
    tenant: str,
    name: str,
    modality: str,
    source: IngestSource,
    options: IngestOptions,
    limits: quotas.TenantLimits,
) -> Dataset:
    """Record the source as a ``processing`` dataset with its ingest job, commit (with whatever else the
    caller's transaction holds: a resumable upload handed over), then ring the ingest doorbell.

    The stored upload counts toward the tenant's bytes from here on, checked under the tenant's lock: queued
    ingests cannot pile up past the limit while none of them has been measured yet."""
    quotas.lock_tenant(session, tenant=tenant)
    quotas.check_stored_bytes(session, tenant=tenant, limits=limits, adding=source.size_bytes)
    dataset, job = add_ingest(
        session, dataset_id=dataset_id, tenant=tenant, name=name, modality=modality, source=source, options=options
    )
    session.commit()
    dispatch(session, job_id=job.id)
    return dataset


def get_dataset(session: Session, *, tenant: str, dataset_id: str) -> Dataset:
    return get_owned(session, Dataset, dataset_id, tenant=tenant, kind="dataset")


def list_datasets(session: Session, *, tenant: str, limit: int, offset: int) -> tuple[list[Dataset], int]:
    query = select(Dataset).where(Dataset.tenant == tenant)
    return paged(session, query, order_by=(Dataset.created_at.desc(), Dataset.id), limit=limit, offset=offset)


def delete_dataset(session: Session, *, tenant: str, storage: Storage, dataset_id: str) -> None:
    dataset = get_dataset(session, tenant=tenant, dataset_id=dataset_id)
    active = session.scalar(
        select(func.count()).select_from(Job).where(Job.dataset_id == dataset_id, Job.status.in_(ACTIVE_JOB_STATES))
    )
    if dataset.status == "processing":
        raise Conflict(f"dataset {dataset_id!r} is still being ingested; delete it once it is ready or failed")
    if active:
        raise Conflict(f"dataset {dataset_id!r} is used by {active} queued or running job(s); cancel them first")
    # Finished jobs keep their history and models; only the link to the raw data goes.
    session.delete(dataset)
    session.commit()
    storage.delete(dataset.storage_key)
