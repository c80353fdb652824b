from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.auth import service
from app.auth.deps import Admin
from app.auth.schemas import KeyCreate, KeyCreated, KeyOut
from app.core.deps import SessionDep
from app.core.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(session: SessionDep, caller: Admin, body: KeyCreate) -> KeyCreated:
    key, secret = service.create_key(
        session, name=body.name, tenant=body.tenant or caller.tenant, scopes=list(body.scopes)
    )
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), key=secret)


@router.get("", response_model=Page[KeyOut])
def list_keys(session: SessionDep, _caller: Admin, page: Annotated[PageParams, Depends(page_params)]) -> Page[KeyOut]:
    rows, total = service.list_keys(session, limit=page.limit, offset=page.offset)
    return Page(items=[KeyOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(session: SessionDep, _caller: Admin, key_id: str) -> None:
    service.revoke_key(session, key_id=key_id)
