"""Tenant-scoped reads shared by the domain services: another tenant's rows look exactly like missing ones."""

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound


class Owned(Protocol):
    tenant: Any


T = TypeVar("T", bound=Owned)


def get_owned(session: Session, cls: type[T], row_id: str, *, tenant: str, kind: str) -> T:
    """The row, or 404 whether it does not exist or belongs to another tenant (no existence leak)."""
    row = session.get(cls, row_id)
    if row is None or row.tenant != tenant:
        raise NotFound(f"{kind} {row_id!r} not found")
    return row


def paged(session: Session, query: Select[Any], *, order_by: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page of ``query`` and the total it would have without paging."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(*order_by).limit(limit).offset(offset))), total
