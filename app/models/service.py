"""The model registry: trained encoders and where their files live."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.models.orm import RegisteredModel

ENCODER_FILE = "encoder.pt"


def model_key(model_id: str) -> str:
    return f"models/{model_id}"


def add_model(
    session: Session, *, model_id: str, job_id: str, method: str, backbone: str, modality: str, dim: int
) -> RegisteredModel:
    """Stage a model row in the caller's transaction (the job's success and the model land together)."""
    model = RegisteredModel(
        id=model_id,
        job_id=job_id,
        method=method,
        backbone=backbone,
        modality=modality,
        dim=dim,
        storage_key=model_key(model_id),
        details={},
    )
    session.add(model)
    return model


def get_model(session: Session, *, model_id: str) -> RegisteredModel:
    model = session.get(RegisteredModel, model_id)
    if model is None:
        raise NotFound(f"model {model_id!r} not found")
    return model


def list_models(session: Session, *, limit: int, offset: int) -> tuple[list[RegisteredModel], int]:
    total = session.scalar(select(func.count()).select_from(RegisteredModel)) or 0
    query = select(RegisteredModel).order_by(RegisteredModel.created_at.desc(), RegisteredModel.id)
    return list(session.scalars(query.limit(limit).offset(offset))), total
