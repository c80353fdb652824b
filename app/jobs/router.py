from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, status

from app.auth.deps import Reader, Writer
from app.core.deps import SessionDep, SettingsDep
from app.core.pagination import MAX_OFFSET, Page, PageParams, page_params
from app.jobs import service
from app.jobs.events import EventStreamResponse, StreamBudget, StreamSlots, job_events
from app.jobs.history import METRICS_HISTORY_CAP
from app.jobs.schemas import JobCreate, JobOut, JobStatus, MetricPoint, MetricsHistory
from app.quotas import service as quotas
from app.quotas.service import TenantLimits

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
DEFAULT_METRICS_PAGE = 500


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def submit_job(caller: Writer, session: SessionDep, settings: SettingsDep, body: JobCreate) -> JobOut:
    # Holds the tenant's quota lock until create_job commits the job.
    quotas.check_job_allowed(session, tenant=caller.tenant, limits=TenantLimits.from_settings(settings))
    job = service.create_job(
        session,
        tenant=caller.tenant,
        pretrained_dir=settings.pretrained_dir,
        max_devices=settings.max_devices,
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


def metric_page_params(
    limit: Annotated[
        int, Query(ge=1, le=METRICS_HISTORY_CAP, description="Points per page, oldest first.")
    ] = DEFAULT_METRICS_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Points to skip.")] = 0,
) -> PageParams:
    """Pages up to the history's cap, so that one request can read a whole step history."""
    return PageParams(limit=limit, offset=offset)


@router.get("/{job_id}/metrics", response_model=MetricsHistory)
def get_metrics(
    caller: Reader,
    session: SessionDep,
    job_id: str,
    page: Annotated[PageParams, Depends(metric_page_params)],
    kind: Annotated[Literal["step", "epoch", "final"] | None, Query()] = None,
) -> MetricsHistory:
    rows, total = service.metrics_history(
        session, tenant=caller.tenant, job_id=job_id, kind=kind, limit=page.limit, offset=page.offset
    )
    points = [MetricPoint.model_validate(r) for r in rows]
    return MetricsHistory(job_id=job_id, points=points, total=total, limit=page.limit, offset=page.offset)


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def cancel_job(caller: Writer, session: SessionDep, job_id: str) -> JobOut:
    return JobOut.from_row(service.cancel_job(session, tenant=caller.tenant, job_id=job_id))


@router.get(
    "/{job_id}/events",
    status_code=status.HTTP_200_OK,  # stated: FastAPI's OpenAPI reads it from a response class's signature else
    response_class=EventStreamResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "job, metric and end events."}},
)
def stream_job_events(
    caller: Reader, session: SessionDep, settings: SettingsDep, request: Request, job_id: str
) -> EventStreamResponse:
    """Server-sent events: ``job`` (the job as GET /v1/jobs/{id} shows it) first and on every change, ``metric``
    for each new history point, ``end`` with the final job, then the stream closes. Read it with ``fetch()``
    (EventSource cannot send the key). A stream lasts at most ``SELFSUP_EVENT_STREAM_MAX_SECONDS``; reconnect."""
    service.get_job(session, tenant=caller.tenant, job_id=job_id)  # 404 before a slot is taken
    session.close()  # the stream reads with sessions of its own: no connection stays checked out meanwhile
    slots: StreamSlots = request.app.state.event_streams
    give_back = slots.take(caller.tenant)
    budget = StreamBudget(settings.event_stream_poll_seconds, settings.event_stream_max_seconds)
    return EventStreamResponse(job_events(tenant=caller.tenant, job_id=job_id, budget=budget), on_close=give_back)
