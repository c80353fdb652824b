"""Every ORM table, imported once so ``Base.metadata`` is complete (Alembic and tests use this)."""

from app.auth.orm import ApiKey
from app.classifiers.orm import Classifier
from app.core.db import Base
from app.datasets.orm import Dataset
from app.embedding_runs.orm import EmbeddingRun
from app.indexes.orm import SearchIndex
from app.jobs.orm import Job, JobMetric
from app.models.orm import RegisteredModel
from app.quotas.orm import Upload
from app.uploads.orm import ResumableUpload, UploadPart

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Classifier",
    "Dataset",
    "EmbeddingRun",
    "Job",
    "JobMetric",
    "RegisteredModel",
    "ResumableUpload",
    "SearchIndex",
    "Upload",
    "UploadPart",
    "metadata",
]
