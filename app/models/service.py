"""The model registry: trained encoders and where their files live."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.queries import get_owned, paged
from app.models.orm import RegisteredModel

ENCODER_FILE = "encoder.pt"


def model_key(model_id: str) -> str:
    return f"models/{model_id}"


def add_model(
    session: Session,
    *,
    tenant: str,
    model_id: str,
    job_id: str,
    method: str,
    backbone: str,
    modality: str,
    dim: int,
    details: dict[str, Any],
    size_bytes: int,
) -> RegisteredModel:
    """Stage a model row in the caller's transaction (the job's success and the model land together)."""
    model = RegisteredModel(
        id=model_id,
        tenant=tenant,
        job_id=job_id,
        method=method,
        backbone=backbone,
        modality=modality,
        dim=dim,
        storage_key=model_key(model_id),
        size_bytes=size_bytes,
        details=details,
    )
    session.add(model)
    return model


def get_model(session: Session, *, tenant: str, model_id: str) -> RegisteredModel:
    return get_owned(session, RegisteredModel, model_id, tenant=tenant, kind="model")


def list_models(session: Session, *, tenant: str, limit: int, offset: int) -> tuple[list[RegisteredModel], int]:
    query = select(RegisteredModel).where(RegisteredModel.tenant == tenant)
    order = (RegisteredModel.created_at.desc(), RegisteredModel.id)
    return paged(session, query, order_by=order, limit=limit, offset=offset)
