from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class RegisteredModel(Base):
    """A trained encoder that can serve embeddings ("model" alone would be ambiguous next to networks)."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    method: Mapped[str] = mapped_column(String(50))
    backbone: Mapped[str] = mapped_column(String(50))
    modality: Mapped[str] = mapped_column(String(20))
    dim: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # the exported encoder, for the tenant's quota
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ModelAlias(Base):
    """A tenant's stable name for one of its models; moving it to a new version is one UPDATE."""

    __tablename__ = "model_aliases"

    # The primary key makes an alias unique within its tenant; two tenants may use the same name.
    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
