from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.auth.deps import Reader, Writer
from app.core.deps import SessionDep, StorageDep
from app.core.pagination import Page, PageParams, page_params
from app.models import aliases, deletion, service
from app.models.schemas import AliasIn, AliasOut, ModelOut

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=Page[ModelOut])
def list_models(
    caller: Reader, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[ModelOut]:
    rows, total = service.list_models(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    names = aliases.aliases_by_model(session, tenant=caller.tenant, model_ids=[r.id for r in rows])
    items = [ModelOut.from_row(r, aliases=names.get(r.id, [])) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/models/{model_id}", response_model=ModelOut)
def get_model(caller: Reader, session: SessionDep, model_id: str) -> ModelOut:
    row = service.get_model(session, tenant=caller.tenant, model_id=model_id)
    names = aliases.aliases_by_model(session, tenant=caller.tenant, model_ids=[row.id])
    return ModelOut.from_row(row, aliases=names.get(row.id, []))


@router.delete("/models/{model_id}", status_code=204)
def delete_model(caller: Writer, session: SessionDep, storage: StorageDep, model_id: str, request: Request) -> Response:
    """Delete the model and its files, freeing its share of the storage quota. 409 while an alias points at it,
    an embedding run or classifier was made with it, or a queued or running distillation learns from it."""
    key = deletion.delete_model(session, tenant=caller.tenant, storage=storage, model_id=model_id)
    # This process stops serving it at once; other API processes do once their lookup of it expires
    # (Settings.lookup_cache_seconds), as with a revoked key. Its files leave this host's cache now, those of
    # other hosts by eviction.
    request.app.state.models.forget(lambda model: model.id == model_id)
    request.app.state.encoder_cache.discard(model_id)
    request.app.state.encoder_cache.blobs.forget(key)
    return Response(status_code=204)


@router.put("/models/{model_id}/alias", response_model=AliasOut)
def set_alias(caller: Writer, session: SessionDep, model_id: str, body: AliasIn) -> AliasOut:
    """Give the model a stable name (usable as ``model`` in POST /v1/embeddings), or move the name to it."""
    row = aliases.set_alias(session, tenant=caller.tenant, alias=body.alias, model_id=model_id)
    return AliasOut.from_row(row)


@router.delete("/aliases/{alias}", status_code=204)
def delete_alias(caller: Writer, session: SessionDep, alias: str) -> Response:
    aliases.delete_alias(session, tenant=caller.tenant, alias=alias)
    return Response(status_code=204)
