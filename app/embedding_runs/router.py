from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.auth.deps import Reader, Writer
from app.core.cache import BlobCache
from app.core.deps import SessionDep, SettingsDep, StorageDep
from app.core.pagination import Page, PageParams, page_params
from app.embedding_runs import exports, service
from app.embedding_runs.schemas import RunCreate, RunOut
from app.quotas.service import TenantLimits

router = APIRouter(prefix="/v1", tags=["embedding runs"])


@router.post("/models/{model_id}/embedding-runs", status_code=status.HTTP_202_ACCEPTED, response_model=RunOut)
def create_run(caller: Writer, session: SessionDep, settings: SettingsDep, model_id: str, body: RunCreate) -> RunOut:
    """Embed every item of a dataset with the model (an id or an alias); a worker does it. Poll
    ``GET /v1/embedding-runs/{id}`` until ``succeeded``, then download the vectors."""
    run = service.create_run(
        session,
        tenant=caller.tenant,
        model_name=model_id,
        dataset_id=body.dataset_id,
        dtype=body.dtype,
        limits=TenantLimits.from_settings(settings),
    )
    return RunOut.from_rows(*service.run_with_job(session, tenant=caller.tenant, run_id=run.id))


@router.get("/embedding-runs", response_model=Page[RunOut])
def list_runs(caller: Reader, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]) -> Page[RunOut]:
    rows, total = service.list_runs(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    items = [RunOut.from_rows(run, job) for run, job in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/embedding-runs/{run_id}", response_model=RunOut)
def get_run(caller: Reader, session: SessionDep, run_id: str) -> RunOut:
    return RunOut.from_rows(*service.run_with_job(session, tenant=caller.tenant, run_id=run_id))


@router.post("/embedding-runs/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=RunOut)
def cancel_run(caller: Writer, session: SessionDep, run_id: str) -> RunOut:
    return RunOut.from_rows(*service.cancel_run(session, tenant=caller.tenant, run_id=run_id))


@router.delete("/embedding-runs/{run_id}", status_code=204)
def delete_run(caller: Writer, session: SessionDep, storage: StorageDep, run_id: str) -> Response:
    service.delete_run(session, tenant=caller.tenant, storage=storage, run_id=run_id)
    return Response(status_code=204)


@router.get("/embedding-runs/{run_id}/vectors", response_class=StreamingResponse)
def download_vectors(
    caller: Reader,
    session: SessionDep,
    request: Request,
    run_id: str,
    format: Annotated[
        Literal["npy", "parquet"], Query(description="npy: (N, D) as stored; parquet: index, label, vector.")
    ] = "npy",
) -> StreamingResponse:
    """Row i is dataset item i. 409 until the run has succeeded."""
    run = service.ready_run(session, tenant=caller.tenant, run_id=run_id)
    session.close()  # no connection stays checked out while a large file streams
    blobs: BlobCache = request.app.state.encoder_cache.blobs
    headers = {"Content-Disposition": f'attachment; filename="{run.id}.{format}"'}
    if format == "npy":
        return StreamingResponse(
            exports.stream_vectors_npy(blobs, run), media_type="application/octet-stream", headers=headers
        )
    path = exports.build_parquet(blobs, run)
    return StreamingResponse(
        exports.stream_and_remove(path), media_type="application/vnd.apache.parquet", headers=headers
    )
