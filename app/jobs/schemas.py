from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.orm import Job
from app.jobs.summary import metrics_description, quality_summary

MAX_PARAMS = 100  # a method takes a few dozen parameters at most; the cap keeps a hostile body's errors few
JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
JobPhase = Literal["queued", "training", "evaluating", "exporting", "done"]
PHASE_OF_STATUS: dict[str, JobPhase] = {"queued": "queued", "succeeded": "done", "failed": "done", "canceled": "done"}


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field would otherwise be dropped without a word

    dataset_id: str = Field(min_length=1, max_length=40)
    method: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="A method of GET /v1/methods; omitted: the default for the dataset's modality (its "
        "default_for lists it).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, max_length=MAX_PARAMS, description="Method parameters; see GET /v1/methods."
    )
    name: str | None = Field(default=None, max_length=200)


class JobProgress(BaseModel):
    epoch: int
    epochs: int = Field(description="The run's epochs; 0 while a max_minutes job has not planned them yet.")
    step: int
    total_steps: int
    fraction: float
    max_minutes: float | None = Field(description="The job's time budget, when it has one instead of epochs.")
    planned_epochs: int | None = Field(
        description="The epochs the run will train: its params' epochs, or those a max_minutes job planned after "
        "timing its first steps (null until then); fixed once planned, a resumed job keeps them."
    )


class JobOut(BaseModel):
    id: str
    name: str | None
    dataset_id: str | None
    method: str
    params: dict[str, Any]
    status: JobStatus
    cancel_requested: bool
    progress: JobProgress
    phase: JobPhase = Field(
        description="queued; while running: training, then evaluating (the final metrics and probes, after the "
        "last step), then exporting (writing the model); done once succeeded, failed or canceled."
    )
    eta_seconds: float | None = Field(
        description="While training: seconds of training left at this attempt's rate so far; null otherwise."
    )
    metrics: dict[str, Any] = Field(description=metrics_description())
    summary: str | None = Field(
        description="Once succeeded: the final report in plain words, e.g. 'kNN 0.91: +4.2 points over the "
        "random-init encoder, +1.3 points over raw pixels; RankMe 84 of 128', or for an encoder that loses to "
        "its baseline 'kNN 0.39: +2.0 points over the random-init encoder, 23.0 points below TF-IDF on these "
        "labels'."
    )
    error: str | None
    model_id: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, job: Job) -> "JobOut":
        fraction = job.step / job.total_steps if job.total_steps else 0.0
        max_minutes = (job.params or {}).get("max_minutes")
        return cls(
            id=job.id,
            name=job.name,
            dataset_id=job.dataset_id,
            method=job.method,
            params=job.params,
            status=job.status,  # type: ignore[arg-type]
            cancel_requested=job.cancel_requested,
            progress=JobProgress(
                epoch=job.epoch,
                epochs=job.epochs,
                step=job.step,
                total_steps=job.total_steps,
                fraction=round(fraction, 4),
                max_minutes=max_minutes,
                planned_epochs=job.epochs or None,
            ),
            phase=PHASE_OF_STATUS.get(job.status) or job.phase or "training",  # type: ignore[arg-type]
            eta_seconds=job.eta_seconds if job.status == "running" and job.phase == "training" else None,
            metrics=job.metrics or {},
            summary=quality_summary(job.metrics or {}) if job.status == "succeeded" else None,
            error=job.error,
            model_id=job.model_id,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class MetricPoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    epoch: int
    step: int
    kind: Literal["step", "epoch", "final"]
    values: dict[str, Any]
    created_at: datetime


class MetricsHistory(BaseModel):
    """One page of a job's metrics history, oldest first; ``total`` counts the points matching ``kind``."""

    job_id: str
    points: list[MetricPoint]
    total: int
    limit: int
    offset: int
