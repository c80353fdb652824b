from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class Classifier(Base):
    """A linear classifier fitted on labeled rows of an embedding run. Its status is its job's (kind "classify")."""

    __tablename__ = "classifiers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    # Kept when the run goes: predicting from new inputs needs only the model and the weights.
    embedding_run_id: Mapped[str | None] = mapped_column(
        ForeignKey("embedding_runs.id", ondelete="SET NULL"), index=True
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    classes: Mapped[list[str]] = mapped_column(JSON, default=list)  # sorted; set when it succeeds
    num_labels: Mapped[int] = mapped_column(Integer, default=0)  # labeled items it is trained on
    cv_accuracy: Mapped[float | None] = mapped_column(Float)
    cv_folds: Mapped[int] = mapped_column(Integer, default=0)
    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
