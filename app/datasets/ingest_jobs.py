"""Ingest as a job: the rows an upload leaves for a worker, and how the worker's attempt ends them.

``POST /v1/datasets`` stores the upload as blob objects and records a ``processing`` dataset with an ingest job
(kind ``ingest``) whose params hold where the upload lies and the resolved options. The job shares training's
claim, lease, fencing, attempt cap and reaper (:mod:`app.jobs.lease`); its ``metrics`` hold the latest progress
counters. Functions take keyword-only arguments and a session they do not own.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.ids import new_id
from app.datasets.ingest import Ingested, IngestOptions
from app.datasets.orm import Dataset
from app.jobs.lease import Claim, finish_claim
from app.jobs.orm import Job

INGEST_KIND = "ingest"
INGEST_METHOD = "ingest"  # an ingest job trains nothing: one pass ("epoch") and no steps
UPLOAD_PREFIX = "uploads"


@dataclass(frozen=True)
class IngestSource:
    """The file to ingest: the concatenation of the objects at ``keys``, in order; or, for an import, the
    objects below ``import_url`` (in a bucket of the operator's, not the service's store) as one archive."""

    keys: list[str]
    filename: str
    size_bytes: int
    import_url: str | None = None


@dataclass(frozen=True)
class IngestTask:
    """What an attempt needs, read once from the rows."""

    dataset_id: str
    tenant: str
    modality: str
    source: IngestSource
    options: IngestOptions


def upload_key(dataset_id: str) -> str:
    return f"{UPLOAD_PREFIX}/{dataset_id}/upload"


def dataset_key(dataset_id: str) -> str:
    return f"datasets/{dataset_id}"


def staging_prefix(job_id: str) -> str:
    """The staging directories of a job's attempts start with this, so a later attempt or the reaper finds them."""
    return f"ingest-{job_id}-"


def add_ingest(
    session: Session,
    *,
    dataset_id: str,
    tenant: str,
    name: str,
    modality: str,
    source: IngestSource,
    options: IngestOptions,
) -> tuple[Dataset, Job]:
    """Add a ``processing`` dataset and its queued ingest job; the caller commits, then rings the doorbell."""
    dataset = Dataset(
        id=dataset_id,
        tenant=tenant,
        name=name,
        modality=modality,
        status="processing",
        num_items=0,
        size_bytes=source.size_bytes,  # the stored upload's, until ingest measures the dataset
        storage_key=dataset_key(dataset_id),
        details={"source_filename": source.filename},
    )
    job = Job(
        id=new_id("job"),
        kind=INGEST_KIND,
        tenant=tenant,
        dataset_id=dataset_id,
        method=INGEST_METHOD,
        params={"source": dataclasses.asdict(source), "options": dataclasses.asdict(options)},
        status="queued",
        epochs=1,
        total_steps=0,
        metrics={},
    )
    session.add_all([dataset, job])
    return dataset, job


def read_task(session: Session, *, job_id: str) -> IngestTask | None:
    """The attempt's inputs; None when the dataset was deleted meanwhile."""
    job = session.get_one(Job, job_id)
    dataset = session.get(Dataset, job.dataset_id) if job.dataset_id else None
    session.rollback()
    if dataset is None:
        return None
    params = job.params
    return IngestTask(
        dataset_id=dataset.id,
        tenant=dataset.tenant,
        modality=dataset.modality,
        source=IngestSource(**params["source"]),
        options=IngestOptions(**params["options"]),
    )


def mark_ready(session: Session, *, claim: Claim, dataset_id: str, result: Ingested, filename: str) -> bool:
    """The job succeeded and its dataset is ready, in the caller's transaction; False if the claim was lost."""
    if not finish_claim(session, claim=claim, status="succeeded", epoch=1):
        return False
    labels = None if result.labels is None else result.labels.summary()
    session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(
            status="ready",
            error=None,
            num_items=result.num_items,
            size_bytes=result.size_bytes,
            details={**result.details, "source_filename": filename, "labels": labels},
        )
    )
    return True


def mark_failed(session: Session, *, claim: Claim, dataset_id: str, error: str) -> bool:
    """Bad input: the job and its dataset fail for good with ``error``, and commit; False if the claim was lost."""
    if not finish_claim(session, claim=claim, status="failed", error=error):
        session.rollback()
        return False
    fail_dataset(session, dataset_id=dataset_id, error=error)
    session.commit()
    return True


def fail_dataset(session: Session, *, dataset_id: str, error: str) -> None:
    session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id, Dataset.status == "processing")
        .values(status="failed", error=error)
    )


@dataclass(frozen=True)
class Abandoned:
    job_id: str
    dataset_id: str
    error: str
    upload_keys: list[str]


def abandoned_ingests(session: Session) -> list[Abandoned]:
    """``processing`` datasets whose ingest job has ended anyway: the reaper gave up on it after its workers
    were lost, or its worker died between failing the job and the dataset."""
    rows = session.execute(
        select(Job.id, Dataset.id, Job.error, Job.params)
        .join(Dataset, Dataset.id == Job.dataset_id)
        .where(Job.kind == INGEST_KIND, Job.status.in_(("failed", "canceled")), Dataset.status == "processing")
    ).all()
    session.rollback()
    return [
        Abandoned(job_id, dataset_id, error or "ingest was abandoned", list(params["source"]["keys"]))
        for job_id, dataset_id, error, params in rows
    ]


def progress_of(session: Session, *, dataset_id: str) -> dict[str, Any] | None:
    """The latest counters of the dataset's ingest, or None (a dataset from before ingest jobs)."""
    query = (
        select(Job.metrics)
        .where(Job.dataset_id == dataset_id, Job.kind == INGEST_KIND)
        .order_by(Job.created_at.desc())
        .limit(1)
    )
    return session.scalar(query)
