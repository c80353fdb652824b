from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from app.auth.deps import Reader, Writer
from app.core.config import get_settings
from app.core.deps import SessionDep
from app.core.pagination import Page, PageParams, page_params
from app.curation.open_runs import OpenRuns
from app.embeddings.inputs import client_inputs
from app.embeddings.router import request_slot
from app.embeddings.service import EncoderCache, embed_batched, prepare_off_loop
from app.indexes import service
from app.indexes.schemas import IndexIn, IndexOut, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1/indexes", tags=["search"])


@router.post("", response_model=IndexOut, status_code=201)
def create_index(caller: Writer, session: SessionDep, body: IndexIn, request: Request) -> IndexOut:
    """A searchable index over a finished embedding run (its files are the run's: creating one is immediate)."""
    settings = get_settings()
    row = service.create_index(
        session,
        tenant=caller.tenant,
        run_id=body.embedding_run_id,
        kind=body.kind,
        name=body.name,
        storage=request.app.state.encoder_cache.blobs.storage,
        max_exact=settings.max_exact_search_items,
    )
    return IndexOut.model_validate(row)


@router.get("", response_model=Page[IndexOut])
def list_indexes(
    caller: Reader, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[IndexOut]:
    rows, total = service.list_indexes(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    return Page(items=[IndexOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{index_id}", response_model=IndexOut)
def get_index(caller: Reader, session: SessionDep, index_id: str) -> IndexOut:
    return IndexOut.model_validate(service.get_index(session, tenant=caller.tenant, index_id=index_id))


@router.delete("/{index_id}", status_code=204)
def delete_index(caller: Writer, session: SessionDep, index_id: str) -> Response:
    service.delete_index(session, tenant=caller.tenant, index_id=index_id)
    return Response(status_code=204)


@router.post(
    "/{index_id}/search", response_model=SearchResponse, dependencies=[Depends(request_slot, scope="function")]
)
async def search(
    caller: Reader, session: SessionDep, index_id: str, body: SearchRequest, request: Request
) -> SearchResponse:
    """Top-``k`` items of the run most similar to each query, by cosine similarity. Raw inputs are embedded by
    the run's model first, batched with concurrent embedding requests and under the same budgets."""
    target = await run_in_threadpool(service.search_target, session, tenant=caller.tenant, index_id=index_id)
    session.close()  # no connection is held while the search waits for a thread or a batch
    open_runs: OpenRuns = request.app.state.open_runs
    opened = await run_in_threadpool(open_runs.get, target.run)
    kind = target.index.kind
    queries_count = len(getattr(body, body.field))
    settings = get_settings()
    service.check_search_work(
        queries_count, kind=kind, num_items=target.run.num_items, max_comparisons=settings.max_search_comparisons
    )
    if body.items is not None:
        queries = service.item_vectors(opened, body.items)
    else:
        cache: EncoderCache = request.app.state.encoder_cache
        inputs = client_inputs(body)
        prepared = await prepare_off_loop(cache, model_id=target.model.id, key=target.model.storage_key, inputs=inputs)
        queries = await embed_batched(prepared)
    matches = await run_in_threadpool(service.find_matches, opened, queries, kind=kind, k=body.k, exclude=body.items)
    return SearchResponse.build(target.index.id, kind, matches)
