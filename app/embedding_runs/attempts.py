"""The rows a worker's embedding attempt reads and ends. Functions take keyword-only arguments and a session
they do not own."""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.datasets.orm import Dataset
from app.embedding_runs.orm import EmbeddingRun
from app.jobs.lease import Claim, finish_claim
from app.models.orm import RegisteredModel


@dataclass(frozen=True)
class EmbedTask:
    """What an attempt needs, read once from the rows."""

    run_id: str
    tenant: str
    modality: str
    dtype: str
    dim: int
    model_id: str
    model_key: str
    dataset_id: str
    dataset_key: str
    num_items: int
    classes: list[str]  # the dataset's class names, [] when unlabeled


def read_task(session: Session, *, job_id: str) -> EmbedTask | None:
    """The attempt's inputs; None when the run or its dataset was deleted meanwhile."""
    run = session.scalar(select(EmbeddingRun).where(EmbeddingRun.job_id == job_id))
    dataset = session.get(Dataset, run.dataset_id) if run is not None and run.dataset_id else None
    if run is None or dataset is None:
        session.rollback()
        return None
    model = session.get_one(RegisteredModel, run.model_id)
    labels = (dataset.details or {}).get("labels") or {}
    task = EmbedTask(
        run_id=run.id,
        tenant=run.tenant,
        modality=run.modality,
        dtype=run.dtype,
        dim=run.dim,
        model_id=model.id,
        model_key=model.storage_key,
        dataset_id=dataset.id,
        dataset_key=dataset.storage_key,
        num_items=dataset.num_items,
        classes=[str(name) for name in labels.get("classes", [])],
    )
    session.rollback()
    return task


def read_run_id(session: Session, *, job_id: str) -> str | None:
    run_id = session.scalar(select(EmbeddingRun.id).where(EmbeddingRun.job_id == job_id))
    session.rollback()
    return run_id


def mark_succeeded(
    session: Session, *, claim: Claim, run_id: str, num_items: int, size_bytes: int, labels: dict[str, object] | None
) -> bool:
    """The job succeeded and the run has its counts, in the caller's transaction; False if the claim was lost."""
    if not finish_claim(session, claim=claim, status="succeeded", epoch=1):
        return False
    details = {"labels": labels} if labels is not None else {}
    session.execute(
        update(EmbeddingRun)
        .where(EmbeddingRun.id == run_id)
        .values(num_items=num_items, size_bytes=size_bytes, details=details)
    )
    return True
