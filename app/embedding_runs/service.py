"""Embedding run domain logic for the API side: submit, read, list, cancel, delete.

A run is a job of kind ``embed`` (the same claim, lease, attempt cap and reaper as training) plus the row that
says what is embedded and where the vectors land. Functions take keyword-only arguments and a session they do
not own.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, FieldErrors
from app.core.ids import new_id
from app.core.queries import get_owned
from app.core.storage import Storage
from app.datasets.orm import Dataset
from app.datasets.service import get_dataset
from app.embedding_runs.files import storage_key
from app.embedding_runs.orm import EmbeddingRun
from app.jobs.filled_rows import owned_with_job, page_with_jobs
from app.jobs.orm import Job
from app.jobs.service import dispatch, request_cancel
from app.models.aliases import resolve_model
from app.models.orm import RegisteredModel
from app.quotas import service as quotas

EMBED_KIND = "embed"
EMBED_METHOD = "embed"  # an embedding run trains nothing: one pass, no steps
DTYPES = ("float16", "float32")
ACTIVE_STATES = ("queued", "running")


def create_run(
    session: Session, *, tenant: str, model_name: str, dataset_id: str, dtype: str, limits: quotas.TenantLimits
) -> EmbeddingRun:
    """Check the pair, add the queued job and its run under the tenant's quota lock, commit, ring the doorbell."""
    model = resolve_model(session, tenant=tenant, name=model_name)
    dataset = get_dataset(session, tenant=tenant, dataset_id=dataset_id)
    _check_pair(model, dataset)
    quotas.check_job_allowed(session, tenant=tenant, limits=limits)  # held until the commit below
    job = Job(
        id=new_id("job"),
        kind=EMBED_KIND,
        tenant=tenant,
        dataset_id=dataset.id,
        method=EMBED_METHOD,
        params={"model_id": model.id, "dtype": dtype},
        status="queued",
        epochs=1,
        total_steps=0,
        metrics={"items_done": 0, "items_total": dataset.num_items},
    )
    run_id = new_id("emb")
    run = EmbeddingRun(
        id=run_id,
        tenant=tenant,
        model_id=model.id,
        dataset_id=dataset.id,
        job_id=job.id,
        modality=dataset.modality,
        dim=model.dim,
        dtype=dtype,
        num_items=0,
        storage_key=storage_key(run_id),
        size_bytes=0,
        details={},
    )
    session.add(job)
    session.flush()  # the job first: the run points at it
    session.add(run)
    session.commit()
    dispatch(session, job_id=job.id)
    return run


def _check_pair(model: RegisteredModel, dataset: Dataset) -> None:
    if dataset.modality != model.modality:
        message = (
            f"model {model.id!r} embeds {model.modality} data, but dataset {dataset.id!r} holds {dataset.modality}"
        )
        raise FieldErrors([(("body", "dataset_id"), message)])
    if dataset.status != "ready":
        state = "still being ingested" if dataset.status == "processing" else "failed at ingest"
        raise Conflict(f"dataset {dataset.id!r} is {state}; it can be embedded once it is ready")
    if dataset.num_items < 1:
        raise FieldErrors([(("body", "dataset_id"), f"dataset {dataset.id!r} has no items to embed")])


def get_run(session: Session, *, tenant: str, run_id: str) -> EmbeddingRun:
    """The run, or 404 whether it is missing or another tenant's."""
    return get_owned(session, EmbeddingRun, run_id, tenant=tenant, kind="embedding run")


def run_with_job(session: Session, *, tenant: str, run_id: str) -> tuple[EmbeddingRun, Job]:
    """The run and its job as of one moment (app.jobs.filled_rows says why), or 404."""
    return owned_with_job(session, EmbeddingRun, run_id, tenant=tenant, kind="embedding run")


def ready_run(session: Session, *, tenant: str, run_id: str) -> EmbeddingRun:
    """The run if its vectors are stored, else 409 naming its status."""
    run, job = run_with_job(session, tenant=tenant, run_id=run_id)
    if job.status != "succeeded":
        raise Conflict(f"embedding run {run_id!r} is {job.status}; its vectors are there once it has succeeded")
    return run


def latest_ready_run(session: Session, *, tenant: str, model_name: str, dataset_id: str) -> EmbeddingRun:
    """The newest succeeded run of the model (id or alias) over the dataset; 409 saying how to make one."""
    model = resolve_model(session, tenant=tenant, name=model_name)
    dataset = get_dataset(session, tenant=tenant, dataset_id=dataset_id)
    query = (
        select(EmbeddingRun)
        .join(Job, Job.id == EmbeddingRun.job_id)
        .where(EmbeddingRun.model_id == model.id, EmbeddingRun.dataset_id == dataset.id, Job.status == "succeeded")
        .order_by(EmbeddingRun.created_at.desc())
        .limit(1)
    )
    run = session.scalars(query).first()
    if run is None:
        message = f"model {model.id!r} has no finished embedding run over dataset {dataset.id!r}"
        raise Conflict(f"{message}; start one: POST /v1/models/{model.id}/embedding-runs")
    return run


def list_runs(session: Session, *, tenant: str, limit: int, offset: int) -> tuple[list[tuple[EmbeddingRun, Job]], int]:
    return page_with_jobs(session, EmbeddingRun, tenant=tenant, limit=limit, offset=offset)


def cancel_run(session: Session, *, tenant: str, run_id: str) -> tuple[EmbeddingRun, Job]:
    """A queued run ends at once; a running one is flagged and its worker stops after the batch in hand."""
    _, job = run_with_job(session, tenant=tenant, run_id=run_id)
    request_cancel(session, job=job, what=f"embedding run {run_id!r}")
    return run_with_job(session, tenant=tenant, run_id=run_id)


def delete_run(session: Session, *, tenant: str, storage: Storage, run_id: str) -> None:
    """Remove the run's files and row (its job row stays, as history); 409 while it is queued or running."""
    run, job = run_with_job(session, tenant=tenant, run_id=run_id)
    status = job.status
    if status in ACTIVE_STATES:
        raise Conflict(f"embedding run {run_id!r} is {status}; cancel it first, then delete it")
    key = run.storage_key
    session.delete(run)
    session.commit()
    storage.delete(key)  # after the commit: a failed commit must not leave a row without its files
