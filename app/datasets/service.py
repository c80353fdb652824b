"""Dataset domain logic. Functions take keyword-only arguments and a session they do not own."""

import contextlib
import shutil
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, Unprocessable
from app.core.ids import new_id
from app.core.queries import get_owned, paged
from app.core.storage import Storage
from app.datasets.archives import ArchiveLimits
from app.datasets.ingest import Ingested, IngestLimits, IngestOptions, ingest_image_archive
from app.datasets.orm import Dataset
from app.datasets.pair_ingest import ingest_pairs
from app.datasets.table_ingest import ingest_table
from app.datasets.text_ingest import ingest_text
from app.jobs.orm import Job
from app.quotas import service as quotas

ACTIVE_JOB_STATES = ("queued", "running")
SUPPORTED_MODALITIES = ("image", "text", "tabular", "image_text")


def ingest_limits(settings: Settings) -> IngestLimits:
    return IngestLimits(
        archive=ArchiveLimits(
            max_members=settings.max_archive_members,
            max_total_bytes=settings.max_extracted_bytes,
            max_member_bytes=settings.max_member_bytes,
        ),
        max_image_pixels=settings.max_image_pixels,
        max_table_columns=settings.max_table_columns,
        max_dataset_bytes=settings.max_dataset_bytes,
        max_document_bytes=settings.max_document_bytes,
    )


def create_dataset(
    session: Session,
    *,
    tenant: str,
    storage: Storage,
    settings: Settings,
    name: str,
    modality: str,
    upload: Path,
    filename: str,
    options: IngestOptions,
) -> Dataset:
    """Ingest an uploaded file into storage and record it. Nothing is left behind if ingest fails."""
    if modality not in SUPPORTED_MODALITIES:
        raise Unprocessable(f"modality {modality!r} is not supported; supported: {', '.join(SUPPORTED_MODALITIES)}")
    dataset_id = new_id("ds")
    key = f"datasets/{dataset_id}"
    staged = storage.staging_dir()
    try:
        result = _ingest(modality, upload, filename=filename, out_dir=staged, options=options, settings=settings)
        # Under the tenant's lock until the dataset is committed, so concurrent uploads cannot overshoot together.
        quotas.lock_tenant(session, tenant=tenant)
        limits = quotas.TenantLimits.from_settings(settings)
        quotas.check_stored_bytes(session, tenant=tenant, limits=limits, adding=result.size_bytes)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    _publish(storage, staged, key)
    dataset = Dataset(
        id=dataset_id,
        tenant=tenant,
        name=name,
        modality=modality,
        status="ready",
        num_items=result.num_items,
        size_bytes=result.size_bytes,
        storage_key=key,
        details={**result.details, "source_filename": filename, "labels": _labels_summary(result)},
    )
    session.add(dataset)
    try:
        session.commit()
    except BaseException:
        storage.delete(key)
        raise
    return dataset


def _publish(storage: Storage, staged: Path, key: str) -> None:
    """Publish the ingested files; a publish cut short (an object store that stopped answering) leaves none."""
    try:
        storage.publish(staged, key)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        with contextlib.suppress(Exception):  # the store may still be away: the error that matters is the first
            storage.delete(key)
        raise


def _ingest(
    modality: str, upload: Path, *, filename: str, out_dir: Path, options: IngestOptions, settings: Settings
) -> Ingested:
    limits = ingest_limits(settings)
    if modality == "text":
        return ingest_text(upload, filename=filename, out_dir=out_dir, options=options, limits=limits)
    if modality == "tabular":
        return ingest_table(upload, filename=filename, out_dir=out_dir, options=options, limits=limits)
    if modality == "image_text":
        return ingest_pairs(upload, filename=filename, out_dir=out_dir, options=options, limits=limits)
    return ingest_image_archive(
        upload, filename=filename, out_dir=out_dir, image_size=options.image_size, limits=limits
    )


def _labels_summary(result: Ingested) -> dict[str, object] | None:
    return None if result.labels is None else result.labels.summary()


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
    if active:
        raise Conflict(f"dataset {dataset_id!r} is used by {active} queued or running job(s); cancel them first")
    # Finished jobs keep their history and models; only the link to the raw data goes.
    session.delete(dataset)
    session.commit()
    storage.delete(dataset.storage_key)
