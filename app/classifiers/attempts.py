"""The rows a worker's classifier attempt reads and ends. Functions take keyword-only arguments and a session
they do not own."""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.classifiers.orm import Classifier
from app.embedding_runs.orm import EmbeddingRun
from app.jobs.lease import Claim, finish_claim
from app.jobs.orm import Job
from selfsup.curation.fewshot import FitResult


@dataclass(frozen=True)
class ClassifyTask:
    """What an attempt needs, read once from the rows."""

    classifier_id: str
    model_id: str
    storage_key: str
    run_id: str | None  # None when the run was deleted before the attempt
    run_key: str
    labels_key: str  # where the sent labels lie, or DATASET_LABELS for the run's own
    regularization: float


def read_task(session: Session, *, job_id: str) -> ClassifyTask | None:
    """The attempt's inputs; None when the classifier was deleted meanwhile."""
    classifier = session.scalar(select(Classifier).where(Classifier.job_id == job_id))
    if classifier is None:
        session.rollback()
        return None
    params = session.get_one(Job, job_id).params
    run = session.get(EmbeddingRun, classifier.embedding_run_id) if classifier.embedding_run_id else None
    task = ClassifyTask(
        classifier_id=classifier.id,
        model_id=classifier.model_id,
        storage_key=classifier.storage_key,
        run_id=run.id if run is not None else None,
        run_key=run.storage_key if run is not None else "",
        labels_key=str(params["labels"]),
        regularization=float(params["regularization"]),
    )
    session.rollback()
    return task


def mark_succeeded(session: Session, *, claim: Claim, classifier_id: str, result: FitResult, size_bytes: int) -> bool:
    """The job succeeded and the classifier has its classes and CV numbers, in the caller's transaction; False if
    the claim was lost."""
    if not finish_claim(session, claim=claim, status="succeeded", epoch=1):
        return False
    session.execute(
        update(Classifier)
        .where(Classifier.id == classifier_id)
        .values(
            classes=result.classifier.classes,
            num_labels=sum(result.class_counts.values()),
            cv_accuracy=result.cv_accuracy,
            cv_folds=result.cv_folds,
            size_bytes=size_bytes,
            details={"class_counts": result.class_counts},
        )
    )
    return True
