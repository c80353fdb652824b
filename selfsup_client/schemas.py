"""The shapes of the server's answers, as the public API documents them (fields may be added)."""

from typing import Any, TypedDict


class Dataset(TypedDict, total=False):
    id: str
    name: str
    modality: str
    status: str
    error: str | None
    progress: dict[str, Any] | None
    num_items: int
    size_bytes: int
    created_at: str
    labels: dict[str, Any] | None
    details: dict[str, Any]


class JobProgress(TypedDict):
    epoch: int
    epochs: int
    step: int
    total_steps: int
    fraction: float
    max_minutes: float | None  # issue 14: a time budget instead of epochs
    planned_epochs: int | None  # the epochs it plans (null until a max_minutes job has)


class Job(TypedDict, total=False):
    id: str
    name: str | None
    dataset_id: str | None
    method: str
    params: dict[str, Any]
    status: str
    cancel_requested: bool
    progress: JobProgress
    metrics: dict[str, Any]
    error: str | None
    model_id: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    phase: str | None  # issue 12: queued, training, evaluating, exporting, done
    eta_seconds: float | None
    summary: str | None


class MetricPoint(TypedDict):
    attempt: int
    epoch: int
    step: int
    kind: str
    values: dict[str, Any]
    created_at: str


class Model(TypedDict, total=False):
    id: str
    job_id: str
    method: str
    backbone: str
    modality: str
    dim: int
    created_at: str
    evaluation: dict[str, Any]
    aliases: list[str]
    teacher: dict[str, Any] | None  # a distilled model's teacher: model_id, method, backbone, dim


class Key(TypedDict, total=False):
    id: str
    name: str
    tenant: str
    scopes: list[str]
    prefix: str
    created_at: str
    revoked_at: str | None
    key: str  # only when just created


TERMINAL_STATUSES = ("succeeded", "failed", "canceled")
