from typing import Annotated

from fastapi import APIRouter, Depends, Response

from app.auth.deps import Reader, Writer
from app.core.deps import SessionDep
from app.core.pagination import Page, PageParams, page_params
from app.models import aliases, service
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


@router.put("/models/{model_id}/alias", response_model=AliasOut)
def set_alias(caller: Writer, session: SessionDep, model_id: str, body: AliasIn) -> AliasOut:
    """Give the model a stable name (usable as ``model`` in POST /v1/embeddings), or move the name to it."""
    row = aliases.set_alias(session, tenant=caller.tenant, alias=body.alias, model_id=model_id)
    return AliasOut.from_row(row)


@router.delete("/aliases/{alias}", status_code=204)
def delete_alias(caller: Writer, session: SessionDep, alias: str) -> Response:
    aliases.delete_alias(session, tenant=caller.tenant, alias=alias)
    return Response(status_code=204)
