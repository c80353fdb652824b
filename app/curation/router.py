from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from app.auth.deps import Reader
from app.core.config import get_settings
from app.core.deps import SessionDep
from app.curation import service
from app.curation.open_runs import OpenRun, OpenRuns
from app.curation.schemas import EmbeddingMap, QualityReport, SelectionIn, SelectionOut
from app.embedding_runs.service import ready_run

router = APIRouter(prefix="/v1", tags=["curation"])


async def _open(request: Request, session: SessionDep, *, tenant: str, run_id: str) -> OpenRun:
    run = await run_in_threadpool(ready_run, session, tenant=tenant, run_id=run_id)
    session.close()
    open_runs: OpenRuns = request.app.state.open_runs
    return await run_in_threadpool(open_runs.get, run)


@router.get("/embedding-runs/{run_id}/quality", response_model=QualityReport)
async def quality_report(
    caller: Reader,
    session: SessionDep,
    request: Request,
    run_id: str,
    near_duplicate_threshold: Annotated[
        float, Query(ge=0.5, le=1.0, description="Cosine similarity at which two items count as near duplicates.")
    ] = 0.95,
    outliers: Annotated[int, Query(ge=0, le=1000, description="How many of the sparsest items to list.")] = 20,
) -> QualityReport:
    """Exact duplicates (identical canonical content), near-duplicate groups, outliers and, when the dataset has
    labels, items whose label disagrees with their neighbours'."""
    opened = await _open(request, session, tenant=caller.tenant, run_id=run_id)
    return await run_in_threadpool(
        service.quality_report, opened, run_id=run_id, threshold=near_duplicate_threshold, max_outliers=outliers
    )


@router.get("/embedding-runs/{run_id}/map", response_model=EmbeddingMap)
async def embedding_map(caller: Reader, session: SessionDep, request: Request, run_id: str) -> EmbeddingMap:
    """A 2-D layout of the run's items for plotting (t-SNE for small runs, UMAP for large), drawn when the run
    finished."""
    opened = await _open(request, session, tenant=caller.tenant, run_id=run_id)
    return await run_in_threadpool(service.embedding_map, opened, run_id=run_id)


@router.post("/selections", response_model=SelectionOut)
async def select_items(caller: Reader, session: SessionDep, request: Request, body: SelectionIn) -> SelectionOut:
    """Which items to label next: ``budget`` of them chosen by ``strategy``, deterministic for a ``seed``."""
    opened = await _open(request, session, tenant=caller.tenant, run_id=body.embedding_run_id)
    work = get_settings().max_selection_work
    return await run_in_threadpool(service.select, opened, body, max_work=work)
