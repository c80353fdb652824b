from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class SearchIndex(Base):
    """A searchable view of one embedding run. The files it searches are the run's own (see
    app.curation.analysis): deleting the run deletes its indexes."""

    __tablename__ = "search_indexes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    embedding_run_id: Mapped[str] = mapped_column(ForeignKey("embedding_runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "exact" or "hnsw"
    num_items: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
