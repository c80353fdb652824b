import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.core.errors import FieldErrors
from app.datasets.labels import evaluation_fitness
from app.datasets.orm import Dataset


class DatasetLabels(BaseModel):
    """Labels found at upload (class folders or labels.csv); used only to evaluate encoders, never to train."""

    source: str
    num_labeled: int
    classes: list[str] = Field(description="Class names; a label is an index into this list.")
    usable_for_evaluation: bool = Field(description="Whether jobs on this dataset report kNN and linear probes.")
    note: str | None = Field(default=None, description="Why the labels cannot be used, when they cannot.")

    @model_validator(mode="before")
    @classmethod
    def assessed(cls, stored: Any) -> Any:
        # Datasets uploaded before labels were assessed are judged by the same rule when they are read.
        if isinstance(stored, dict) and "usable_for_evaluation" not in stored:
            return {**stored, **evaluation_fitness(stored.get("classes", []), stored.get("num_labeled", 0))}
        return stored


class IngestProgress(BaseModel):
    """How far ingest has got; each modality reports what it can know (images: items; text: bytes read, of the
    file's size when it is a plain file; tables: bytes at the start and the end)."""

    items_done: int | None = None
    items_total: int | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None


class DatasetOut(BaseModel):
    id: str
    name: str
    modality: str
    status: Literal["processing", "ready", "failed"] = Field(
        description="processing until a worker has ingested the upload; then ready, or failed with the reason"
    )
    error: str | None = Field(default=None, description="Why ingest failed: the file and the problem.")
    progress: IngestProgress | None = Field(default=None, description="Only on GET /v1/datasets/{id}.")
    num_items: int
    size_bytes: int
    created_at: datetime
    image_size: int | None = None
    labels: DatasetLabels | None = None
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="What ingest found: for text the document counts (read, empty, duplicates, kept), vocabulary "
        "and token length; for tables the schema (types, statistics, vocabularies, missing counts; only on "
        "GET /v1/datasets/{id}, lists give its num_columns); for image-text pairs the caption counts.",
    )

    @classmethod
    def from_row(cls, row: Dataset, *, summary: bool = False, progress: dict[str, Any] | None = None) -> "DatasetOut":
        """``summary`` (for lists) leaves a table's schema out: it grows with the columns, and a page of wide
        tables would otherwise be tens of megabytes."""
        details = {k: v for k, v in row.details.items() if k not in ("labels", "image_size", "source_filename")}
        if summary and isinstance(details.get("schema"), dict):
            details["num_columns"] = len(details.pop("schema").get("columns", []))
        return cls(
            id=row.id,
            name=row.name,
            modality=row.modality,
            status=row.status,  # type: ignore[arg-type]
            error=row.error,
            progress=None if progress is None else IngestProgress.model_validate(progress),
            num_items=row.num_items,
            size_bytes=row.size_bytes,
            created_at=row.created_at,
            image_size=row.details.get("image_size"),
            labels=row.details.get("labels"),
            details=details,
        )


def parse_column_types(raw: str | None) -> dict[str, str]:
    """The ``column_types`` form field: a JSON object of column name -> type, or nothing."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FieldErrors([(("body", "column_types"), f"not valid JSON: {exc.msg}")]) from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise FieldErrors(
            [(("body", "column_types"), 'expected a JSON object of strings, e.g. {"zip": "categorical"}')]
        )
    return value
