from datetime import datetime

from pydantic import BaseModel

from app.datasets.orm import Dataset


class DatasetOut(BaseModel):
    id: str
    name: str
    modality: str
    status: str
    num_items: int
    size_bytes: int
    created_at: datetime
    image_size: int | None = None

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
        )
