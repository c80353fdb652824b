from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.embedding_runs.orm import EmbeddingRun
from app.jobs.orm import Job
from app.jobs.schemas import JobStatus


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(max_length=40, description="A ready dataset of the model's modality.")
    dtype: Literal["float16", "float32"] = Field(
        "float16", description="How the vectors are stored: float16 halves the bytes, float32 keeps every bit."
    )


class RunProgress(BaseModel):
    items_done: int
    items_total: int


class RunOut(BaseModel):
    id: str
    status: JobStatus
    progress: RunProgress
    error: str | None
    model_id: str
    dataset_id: str | None = Field(description="null once the dataset is deleted; the vectors stay.")
    modality: str
    num_items: int = Field(description="Rows of the vectors: set when the run has succeeded.")
    dim: int
    dtype: str
    size_bytes: int
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_rows(cls, run: EmbeddingRun, job: Job) -> "RunOut":
        counters = job.metrics or {}
        return cls(
            id=run.id,
            status=job.status,  # type: ignore[arg-type]
            progress=RunProgress(
                items_done=int(counters.get("items_done", 0)), items_total=int(counters.get("items_total", 0))
            ),
            error=job.error,
            model_id=run.model_id,
            dataset_id=run.dataset_id,
            modality=run.modality,
            num_items=run.num_items,
            dim=run.dim,
            dtype=run.dtype,
            size_bytes=run.size_bytes,
            created_at=run.created_at,
            finished_at=job.finished_at,
        )
