from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models.orm import RegisteredModel


class ModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_id: str
    method: str
    backbone: str
    modality: str
    dim: int
    created_at: datetime
    evaluation: dict[str, Any] = Field(
        default_factory=dict,
        description="The job's final representation metrics: label-free (rankme, alignment, uniformity, "
        "embedding_std, warning) and, for labeled datasets, kNN and linear-probe accuracy vs random init.",
    )

    @classmethod
    def from_row(cls, row: RegisteredModel) -> "ModelOut":
        return cls.model_validate(
            {**ModelOut.model_validate(row).model_dump(), "evaluation": row.details.get("evaluation", {})}
        )
