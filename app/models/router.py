from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import Reader
from app.core.deps import SessionDep
from app.core.pagination import Page, PageParams, page_params
from app.models import service
from app.models.schemas import ModelOut

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=Page[ModelOut])
def list_models(
    caller: Reader, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[ModelOut]:
    rows, total = service.list_models(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    return Page(items=[ModelOut.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{model_id}", response_model=ModelOut)
def get_model(caller: Reader, session: SessionDep, model_id: str) -> ModelOut:
    return ModelOut.from_row(service.get_model(session, tenant=caller.tenant, model_id=model_id))
