from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.classifiers.orm import Classifier
from app.embeddings.schemas import INPUT_FIELDS, EmbedRequest
from app.jobs.orm import Job
from app.jobs.schemas import JobStatus

MAX_PREDICT_ITEMS = 10_000  # stored items are read from the run's vectors: no encoder, so more per request


class ClassifierCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedding_run_id: str | None = Field(
        default=None, max_length=40, description="A succeeded embedding run of yours; or model_id and dataset_id."
    )
    model_id: str | None = Field(
        default=None,
        max_length=100,
        description="With dataset_id: the latest succeeded run of this model (id or alias) over that dataset.",
    )
    dataset_id: str | None = Field(default=None, max_length=40)
    labels: dict[str, str] | Literal["dataset"] = Field(
        description='{"<item index>": "<label>"} for items of the run, or "dataset" for its dataset\'s labels.'
    )
    name: str | None = Field(default=None, max_length=200)
    regularization: float = Field(
        default=1.0, gt=0, le=1e6, description="L2 strength (1 / C of a logistic regression): larger is simpler."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        by_run, by_pair = self.embedding_run_id is not None, (self.model_id, self.dataset_id) != (None, None)
        if by_run == by_pair or (by_pair and None in (self.model_id, self.dataset_id)):
            raise ValueError("send embedding_run_id, or model_id with dataset_id (the latest run of that pair)")
        return self


class PredictRequest(EmbedRequest):
    """What ``/v1/models/{id}/embed`` takes, embedded by the classifier's model; or ``items``: indices of the
    classifier's embedding run, predicted from their stored vectors."""

    ONE_OF: ClassVar[tuple[str, ...]] = (*INPUT_FIELDS, "items")

    items: list[int] | None = Field(
        default=None, min_length=1, max_length=MAX_PREDICT_ITEMS, description="Item indices of the run."
    )


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    classifier: str
    predictions: list[Prediction]


class ClassifierOut(BaseModel):
    id: str
    name: str | None
    status: JobStatus
    error: str | None
    model_id: str
    embedding_run_id: str | None = Field(description="null once the run is deleted; new inputs still predict.")
    classes: list[str] = Field(description="Sorted class names: set when it has succeeded.")
    num_labels: int
    cv_accuracy: float | None = Field(description="Stratified k-fold accuracy; null if a class has 1 example.")
    cv_folds: int
    size_bytes: int
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_rows(cls, classifier: Classifier, job: Job) -> "ClassifierOut":
        return cls(
            id=classifier.id,
            name=classifier.name,
            status=job.status,  # type: ignore[arg-type]
            error=job.error,
            model_id=classifier.model_id,
            embedding_run_id=classifier.embedding_run_id,
            classes=list(classifier.classes or []),
            num_labels=classifier.num_labels,
            cv_accuracy=classifier.cv_accuracy,
            cv_folds=classifier.cv_folds,
            size_bytes=classifier.size_bytes,
            created_at=classifier.created_at,
            finished_at=job.finished_at,
        )
