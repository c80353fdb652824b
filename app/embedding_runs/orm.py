from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class EmbeddingRun(Base):
    """A dataset embedded by a model. Its status is its job's (kind "embed"); row i of its arrays is item i."""

    __tablename__ = "embedding_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    # Kept when the dataset goes: the vectors stay usable (labels and hashes are copied into the run).
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    modality: Mapped[str] = mapped_column(String(20))
    dim: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(10))  # "float16" | "float32"
    num_items: Mapped[int] = mapped_column(Integer, default=0)  # set when it succeeds
    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
