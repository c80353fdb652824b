from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    modality: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="ready")  # processing -> ready or failed
    error: Mapped[str | None] = mapped_column(Text)  # why ingest failed: names the file and the problem
    num_items: Mapped[int] = mapped_column(Integer, default=0)  # 0 and 0 until ingest has finished
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    storage_key: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what the modality adds
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
