"""Deleting a model, which frees its files and its share of the tenant's storage quota.

A model is deleted only when nothing depends on it: an alias still pointing at it would turn clients' requests
into 404s without warning, and embedding runs, their indexes and classifiers need the model to embed the
queries they are asked. The caller deletes or moves those first; the 409 names each. The training job's row
stays, as history (its ``model_id`` then names a deleted model).
"""

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.classifiers.orm import Classifier
from app.core.errors import Conflict
from app.core.storage import Storage
from app.embedding_runs.orm import EmbeddingRun
from app.exports.service import exports_prefix
from app.jobs.orm import Job
from app.models.orm import ModelAlias, RegisteredModel
from app.models.service import get_model
from app.quotas.service import lock_tenant

ACTIVE_STATES = ("queued", "running")


def delete_model(session: Session, *, tenant: str, storage: Storage, model_id: str) -> str:
    """Remove the model's row, then its files and export archives, and say where they were stored; 404 when the
    tenant has no such model, 409 naming what uses it."""
    model = get_model(session, tenant=tenant, model_id=model_id)
    lock_tenant(session, tenant=tenant)  # a distillation submitted meanwhile waits, then finds no teacher
    uses = model_uses(session, model)
    if uses:
        raise Conflict(f"model {model_id!r} is still in use: {'; '.join(uses)}. Remove those first, then delete it")
    key = model.storage_key
    session.delete(model)
    try:
        session.commit()
    except IntegrityError:  # an embedding run or classifier of it was added since the check above
        session.rollback()
        raise Conflict(f"model {model_id!r} came into use while it was being deleted; nothing was removed") from None
    storage.delete(key)  # after the commit: a failed commit must not leave a row without its files
    storage.delete(exports_prefix(model_id))
    return key


def model_uses(session: Session, model: RegisteredModel) -> list[str]:
    """What depends on ``model``, in words a user can act on; empty when it can go."""
    aliases = session.scalars(select(ModelAlias.alias).where(ModelAlias.model_id == model.id)).all()
    runs = session.scalar(select(func.count(EmbeddingRun.id)).where(EmbeddingRun.model_id == model.id)) or 0
    classifiers = session.scalar(select(func.count(Classifier.id)).where(Classifier.model_id == model.id)) or 0
    students = session.scalars(
        select(Job.id).where(
            Job.tenant == model.tenant, Job.status.in_(ACTIVE_STATES), Job.params["teacher"].as_string() == model.id
        )
    ).all()
    uses = [f"alias {alias!r} points at it (DELETE /v1/aliases/{alias}, or move it)" for alias in aliases]
    if runs:
        uses.append(f"{_things(runs, 'embedding run')} embedded with it (DELETE /v1/embedding-runs/{{id}})")
    if classifiers:
        uses.append(f"{_things(classifiers, 'classifier')} built on it (DELETE /v1/classifiers/{{id}})")
    uses += [f"job {job_id!r} is distilling from it (cancel it, or let it end)" for job_id in students]
    return uses


def _things(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
