"""Job domain logic for the API side: submit, read, list, cancel."""

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.db import affected_rows, db_now
from app.core.errors import Conflict, FieldErrors, NotFound
from app.core.ids import new_id
from app.core.pretrained import NotInstalled, installed_model
from app.core.queries import get_owned, paged
from app.core.queue import ring_doorbell
from app.datasets.orm import Dataset
from app.jobs.orm import Job, JobMetric
from app.models.teachers import pin_teacher
from selfsup.errors import ParamError, UnknownNameError
from selfsup.methods import default_method, get_method
from selfsup.params import TrainingParams, params_to_dict
from selfsup.pretrained_backbones import PretrainedModelError, check_pretrained_backbone

log = logging.getLogger(__name__)

JOB_STATES = ("queued", "running", "succeeded", "failed", "canceled")
TERMINAL_STATES = ("succeeded", "failed", "canceled")


def create_job(
    session: Session,
    *,
    tenant: str,
    dataset_id: str,
    method: str | None,
    params: dict[str, Any] | None,
    name: str | None,
    pretrained_dir: Path | None = None,
    max_devices: int = 1,
) -> Job:
    """Validate against the method registry (no ``method``: the default of the dataset's modality), store the
    resolved params (a distillation's teacher pinned to a model id), commit, then ring the doorbell."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.tenant != tenant:
        raise FieldErrors([(("body", "dataset_id"), f"dataset {dataset_id!r} not found")])
    _check_ready(dataset)
    method = method or default_method(dataset.modality).name
    resolved = _resolve_params(method, dataset, params)
    _check_pretrained(resolved, pretrained_dir)
    _check_devices(method, resolved, dataset, max_devices)
    if get_method(method).takes_teacher:
        resolved = pin_teacher(session, tenant=tenant, params=resolved, pretrained_dir=pretrained_dir)
    epochs, total_steps = _run_length(resolved, dataset.num_items)
    job = Job(
        id=new_id("job"),
        tenant=tenant,
        name=name,
        dataset_id=dataset.id,
        method=method,
        params=params_to_dict(resolved),
        status="queued",
        epochs=epochs,
        total_steps=total_steps,
        metrics={},
    )
    session.add(job)
    session.commit()
    dispatch(session, job_id=job.id)
    return job


def _run_length(params: Any, num_items: int) -> tuple[int, int]:
    """The job's epochs and steps as far as submit knows them: a ``max_minutes`` job's are 0 until its run has
    timed its first steps and planned them (the worker then writes them)."""
    if getattr(params, "max_minutes", None) is not None:
        return 0, 0
    return params.epochs, params.epochs * (num_items // min(params.batch_size, num_items))


def _check_ready(dataset: Dataset) -> None:
    if dataset.status == "processing":
        raise Conflict(
            f"dataset {dataset.id!r} is still being ingested; poll GET /v1/datasets/{dataset.id} until ready"
        )
    if dataset.status != "ready":
        raise Conflict(f"dataset {dataset.id!r} cannot be trained on: its ingest failed: {dataset.error}")


def _resolve_params(method: str, dataset: Dataset, params: dict[str, Any] | None) -> Any:
    try:
        spec = get_method(method)
    except UnknownNameError as exc:
        raise FieldErrors([(("body", "method"), str(exc))]) from None
    if dataset.modality not in spec.modalities:
        accepted = ", ".join(spec.modalities)
        message = f"method {method!r} accepts {accepted} data, but dataset {dataset.id!r} holds {dataset.modality}"
        raise FieldErrors([(("body", "method"), message)])
    if dataset.num_items < 2:
        raise FieldErrors([(("body", "dataset_id"), "training needs a dataset with at least 2 items")])
    try:
        return spec.validate_request(params)
    except ParamError as exc:
        raise FieldErrors([(("body", *issue.loc), issue.message) for issue in exc.issues]) from None


def _check_pretrained(params: Any, pretrained_dir: Path | None) -> None:
    """``pretrained`` names a model directory the operator placed in the pretrained folder, never a path: a
    tenant must not make the worker read arbitrary files."""
    name = getattr(params, "pretrained", None)
    if name is None:
        return
    loc = ("body", "params", "pretrained")
    try:
        installed_model(pretrained_dir, name)
    except NotInstalled as exc:
        raise FieldErrors([(loc, str(exc))]) from None
    if isinstance(params, TrainingParams):  # image weights: checked to the architecture's keys before queueing
        try:
            check_pretrained_backbone(pretrained_dir / name, backbone=params.backbone)
        except PretrainedModelError as exc:
            raise FieldErrors([(loc, str(exc))]) from None


def _check_devices(method: str, params: Any, dataset: Dataset, max_devices: int) -> None:
    """A job on several devices splits every batch evenly over them, on workers that have that many."""
    devices = params.devices
    if devices == 1:
        return
    loc = ("body", "params", "devices")
    if devices > max_devices:
        raise FieldErrors([(loc, f"this service trains a job on at most {max_devices} devices, not {devices}")])
    if get_method(method).takes_teacher:
        raise FieldErrors([(loc, f"method {method!r} trains on one device: its teacher is not shared across ranks")])
    if getattr(params, "max_minutes", None) is not None:
        raise FieldErrors([(loc, "a max_minutes job trains on one device: each rank would plan its own schedule")])
    batch = min(params.batch_size, dataset.num_items)
    if batch % devices:
        message = f"a batch of {batch} items cannot be split evenly over {devices} devices"
        raise FieldErrors([(loc, message)])


def dispatch(session: Session, *, job_id: str) -> bool:
    """Ring the doorbell of the job's kind and note when. A broker outage is not fatal: the reaper rings again
    later."""
    kind = session.scalar(select(Job.kind).where(Job.id == job_id)) or "train"
    session.commit()  # ends the read: no transaction stays open while the broker is called
    try:
        ring_doorbell(kind, job_id)
    except Exception as exc:  # broker down: the job stays queued and is re-dispatched by the reaper
        log.warning("could not dispatch job %s: %s", job_id, exc)
        return False
    session.execute(
        update(Job).where(Job.id == job_id).values(dispatched_at=db_now(session))
    )  # the reaper judges it by this clock
    session.commit()
    return True


def get_job(session: Session, *, tenant: str, job_id: str) -> Job:
    """A training job. Other kinds (ingest) are the service's own bookkeeping, shown through what they make."""
    job = get_owned(session, Job, job_id, tenant=tenant, kind="job")
    if job.kind != "train":
        raise NotFound(f"job {job_id!r} not found")
    return job


def list_jobs(session: Session, *, tenant: str, status: str | None, limit: int, offset: int) -> tuple[list[Job], int]:
    query = select(Job).where(Job.tenant == tenant, Job.kind == "train")
    if status is not None:
        query = query.where(Job.status == status)
    return paged(session, query, order_by=(Job.created_at.desc(), Job.id), limit=limit, offset=offset)


def metrics_history(
    session: Session, *, tenant: str, job_id: str, kind: str | None, limit: int, offset: int
) -> tuple[list[JobMetric], int]:
    """One page of the job's history in the order it was written, and how many points match ``kind``."""
    get_job(session, tenant=tenant, job_id=job_id)
    query = select(JobMetric).where(JobMetric.job_id == job_id)
    if kind is not None:
        query = query.where(JobMetric.kind == kind)
    return paged(session, query, order_by=(JobMetric.id,), limit=limit, offset=offset)


def cancel_job(session: Session, *, tenant: str, job_id: str) -> Job:
    """A queued job is canceled at once; a running one is flagged and its worker stops within a few steps."""
    job = get_job(session, tenant=tenant, job_id=job_id)
    request_cancel(session, job=job, what=f"job {job_id!r}")
    return job


def request_cancel(session: Session, *, job: Job, what: str) -> None:
    """Cancel a queued job of any kind at once, or flag a running one for its worker; commits. 409 naming
    ``what`` when it has already ended."""
    now = db_now(session)
    canceled_queued = affected_rows(
        session,
        update(Job).where(Job.id == job.id, Job.status == "queued").values(status="canceled", finished_at=now),
    )
    if not canceled_queued:
        flagged = affected_rows(
            session,
            update(Job).where(Job.id == job.id, Job.status == "running").values(cancel_requested=True),
        )
        if not flagged:
            session.rollback()
            raise Conflict(f"{what} already ended as {job.status}")
    session.commit()
    session.refresh(job)
