from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from app.auth.deps import Reader, Writer
from app.core.deps import SessionDep, SettingsDep
from app.core.pagination import Page, PageParams, page_params
from app.jobs import service
from app.jobs.schemas import JobCreate, JobOut, JobStatus, MetricPoint, MetricsHistory

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def submit_job(caller: Writer, session: SessionDep, settings: SettingsDep, body: JobCreate) -> JobOut:
    job = service.create_job(
        session,
        tenant=caller.tenant,
        pretrained_dir=settings.pretrained_dir,
        dataset_id=body.dataset_id,
        method=body.method,
        params=body.params,
        name=body.name,
    )
    return JobOut.from_row(job)


@router.get("", response_model=Page[JobOut])
def list_jobs(
    caller: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
) -> Page[JobOut]:
    rows, total = service.list_jobs(session, tenant=caller.tenant, status=status, limit=page.limit, offset=page.offset)
    return Page(items=[JobOut.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{job_id}", response_model=JobOut)
def get_job(caller: Reader, session: SessionDep, job_id: str) -> JobOut:
    return JobOut.from_row(service.get_job(session, tenant=caller.tenant, job_id=job_id))


@router.get("/{job_id}/metrics", response_model=MetricsHistory)
def get_metrics(
    caller: Reader,
    session: SessionDep,
    job_id: str,
    kind: Annotated[Literal["step", "epoch", "final"] | None, Query()] = None,
) -> MetricsHistory:
    rows = service.metrics_history(session, tenant=caller.tenant, job_id=job_id, kind=kind)
    return MetricsHistory(job_id=job_id, points=[MetricPoint.model_validate(r) for r in rows])


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def cancel_job(caller: Writer, session: SessionDep, job_id: str) -> JobOut:
    return JobOut.from_row(service.cancel_job(session, tenant=caller.tenant, job_id=job_id))
