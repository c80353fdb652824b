from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from app.auth import service
from app.auth.deps import Admin
from app.auth.schemas import TENANT_PATTERN, KeyCreate, KeyCreated, KeyOut
from app.core.deps import SessionDep
from app.core.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(session: SessionDep, caller: Admin, body: KeyCreate) -> KeyCreated:
    """A key of the caller's tenant; only an operator key creates keys for other tenants or operator keys."""
    key, secret = service.issue_key(
        session, caller=caller, name=body.name, tenant=body.tenant, scopes=list(body.scopes)
    )
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), key=secret)


@router.get("", response_model=Page[KeyOut])
def list_keys(
    session: SessionDep,
    caller: Admin,
    page: Annotated[PageParams, Depends(page_params)],
    tenant: Annotated[
        str | None, Query(pattern=TENANT_PATTERN, description="Operator keys: only this tenant's keys.")
    ] = None,
) -> Page[KeyOut]:
    """The keys of the caller's tenant; an operator key sees every tenant's."""
    rows, total = service.list_keys(session, caller=caller, tenant=tenant, limit=page.limit, offset=page.offset)
    return Page(items=[KeyOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(session: SessionDep, caller: Admin, key_id: str, request: Request) -> None:
    """Revoke a key of the caller's tenant (an operator key: of any tenant); others' keys are 404."""
    service.revoke_key(session, caller=caller, key_id=key_id)
    request.app.state.principals.forget(lambda principal: principal.key_id == key_id)  # refused from now on
