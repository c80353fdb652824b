"""Aliases: stable names a tenant gives its models, so that clients ask for "products" while the model behind
the name moves from version to version (``PUT /v1/models/{id}/alias``)."""

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.core.db import affected_rows, utcnow
from app.core.errors import NotFound
from app.models.orm import ModelAlias, RegisteredModel
from app.models.service import get_model

MODEL_ID_PREFIX = "mdl_"  # every model id starts so (worker.training); no alias may


def set_alias(session: Session, *, tenant: str, alias: str, model_id: str) -> ModelAlias:
    """Point ``alias`` at the caller's model ``model_id``, creating it or moving it from another model."""
    model = get_model(session, tenant=tenant, model_id=model_id)
    now = utcnow()
    # One INSERT ... ON CONFLICT DO UPDATE: two clients creating the same alias at once both succeed (the
    # last one wins) where a read-then-insert would hand one of them an IntegrityError.
    statement = _insert_for(session)(ModelAlias).values(tenant=tenant, alias=alias, model_id=model.id, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[ModelAlias.tenant, ModelAlias.alias], set_={"model_id": model.id, "updated_at": now}
    )
    session.execute(statement)
    session.commit()
    row = session.get(ModelAlias, (tenant, alias), populate_existing=True)
    assert row is not None  # just written in this session's committed transaction
    return row


def delete_alias(session: Session, *, tenant: str, alias: str) -> None:
    """Remove the alias; 404 if the tenant has none of that name (another tenant's looks the same)."""
    deleted = affected_rows(session, delete(ModelAlias).where(ModelAlias.tenant == tenant, ModelAlias.alias == alias))
    session.commit()
    if not deleted:
        raise NotFound(f"alias {alias!r} not found")


def aliases_by_model(session: Session, *, tenant: str, model_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each listed model's aliases, sorted: one query for a whole page of models."""
    query = (
        select(ModelAlias.model_id, ModelAlias.alias)
        .where(ModelAlias.tenant == tenant, ModelAlias.model_id.in_(list(model_ids)))
        .order_by(ModelAlias.alias)
    )
    found: dict[str, list[str]] = {}
    for model_id, alias in session.execute(query):
        found.setdefault(model_id, []).append(alias)
    return found


def resolve_model(session: Session, *, tenant: str, name: str) -> RegisteredModel:
    """The caller's model named by its id or by one of the tenant's aliases; 404 otherwise."""
    if name.startswith(MODEL_ID_PREFIX):
        return get_model(session, tenant=tenant, model_id=name)
    model = session.scalar(
        select(RegisteredModel)
        .join(ModelAlias, ModelAlias.model_id == RegisteredModel.id)
        .where(ModelAlias.tenant == tenant, ModelAlias.alias == name, RegisteredModel.tenant == tenant)
    )
    if model is None:
        raise NotFound(f"model {name!r} not found")
    return model


def _insert_for(session: Session) -> Callable[..., Any]:
    """The dialect's INSERT, the one that offers ON CONFLICT (the two backends we run on both have it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
