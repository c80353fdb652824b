from datetime import datetime

from pydantic import BaseModel, Field

from app.datasets.orm import Dataset


class DatasetLabels(BaseModel):
    """Labels found at upload (class folders or labels.csv); used only to evaluate encoders, never to train."""

    source: str
    num_labeled: int
    classes: list[str] = Field(description="Class names; a label is an index into this list.")


class DatasetOut(BaseModel):
    id: str
    name: str
    modality: str
    status: str
    num_items: int
    size_bytes: int
    created_at: datetime
    image_size: int | None = None
    labels: DatasetLabels | None = None

    @classmethod
    def from_row(cls, row: Dataset) -> "DatasetOut":
        return cls(
            id=row.id,
            name=row.name,
            modality=row.modality,
            status=row.status,
            num_items=row.num_items,
            size_bytes=row.size_bytes,
            created_at=row.created_at,
            image_size=row.details.get("image_size"),
            labels=row.details.get("labels"),
        )
