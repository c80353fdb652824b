"""Classifier domain logic for the API side: submit, read, list, delete.

A classifier is a job of kind ``classify`` (the same claim, lease, attempt cap and reaper as training) plus the
row that says which run it learns from and where its weights land. The labels sent with a request are stored
as a blob beside it (``classifier-labels/<id>``) for the worker to read. Functions take keyword-only arguments
and a session they do not own.
"""

import contextlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.classifiers.labels import (
    DATASET_LABELS,
    LabeledItems,
    LabelLimits,
    check_dataset_labels,
    labels_from_csv,
    labels_from_mapping,
)
from app.classifiers.orm import Classifier
from app.core.errors import Conflict
from app.core.ids import new_id
from app.core.storage import Storage
from app.embedding_runs.orm import EmbeddingRun
from app.embedding_runs.service import latest_ready_run, ready_run
from app.jobs.filled_rows import owned_with_job, page_with_jobs
from app.jobs.orm import Job
from app.jobs.service import dispatch
from app.quotas import service as quotas

CLASSIFY_KIND = "classify"
CLASSIFY_METHOD = "classify"  # a classifier job trains no network: one fit, no steps
PREFIX = "classifiers"
LABELS_PREFIX = "classifier-labels"
LABELS_FILE = "labels.npz"
ACTIVE_STATES = ("queued", "running")


def storage_key(classifier_id: str) -> str:
    return f"{PREFIX}/{classifier_id}"


def labels_key(classifier_id: str) -> str:
    return f"{LABELS_PREFIX}/{classifier_id}/{LABELS_FILE}"


@dataclass(frozen=True)
class ClassifierSpec:
    """A request for a classifier: labels by item index (a mapping, or the bytes of an ``index,label`` CSV), or
    the run's own (``"dataset"``)."""

    embedding_run_id: str | None  # or the latest succeeded run of model_id over dataset_id
    labels: Mapping[str, str] | str | bytes
    name: str | None
    regularization: float
    model_id: str | None = None
    dataset_id: str | None = None


def create_classifier(
    session: Session,
    *,
    tenant: str,
    storage: Storage,
    spec: ClassifierSpec,
    label_limits: LabelLimits,
    limits: quotas.TenantLimits,
) -> Classifier:
    """Check the run and the labels, store the labels, add the queued job and its classifier under the tenant's
    quota lock, commit, ring the doorbell."""
    run = _run_of(session, tenant=tenant, spec=spec)
    labeled = _labeled_items(run, spec.labels, label_limits)
    classifier_id = new_id("clf")
    quotas.check_job_allowed(session, tenant=tenant, limits=limits)  # held until the commit below
    if labeled is not None:
        _store_labels(storage, classifier_id, labeled)
    try:
        classifier = _add_rows(session, tenant=tenant, run=run, spec=spec, classifier_id=classifier_id, labeled=labeled)
        session.commit()
    except BaseException:
        with contextlib.suppress(Exception):  # the labels of a classifier that was never recorded
            storage.delete(f"{LABELS_PREFIX}/{classifier_id}")
        raise
    dispatch(session, job_id=classifier.job_id)
    return classifier


def _run_of(session: Session, *, tenant: str, spec: ClassifierSpec) -> EmbeddingRun:
    if spec.embedding_run_id is not None:
        return ready_run(session, tenant=tenant, run_id=spec.embedding_run_id)
    assert spec.model_id is not None and spec.dataset_id is not None  # the schema asks for both
    return latest_ready_run(session, tenant=tenant, model_name=spec.model_id, dataset_id=spec.dataset_id)


def _labeled_items(
    run: EmbeddingRun, labels: Mapping[str, str] | str | bytes, limits: LabelLimits
) -> LabeledItems | None:
    """The labeled items sent, or None for the run's own labels (after checking it has them)."""
    if isinstance(labels, bytes):
        return labels_from_csv(labels, num_items=run.num_items, limits=limits)
    if isinstance(labels, str):  # the schema admits only DATASET_LABELS as a string
        check_dataset_labels(run.details or {}, run_id=run.id, limits=limits)
        return None
    return labels_from_mapping(labels, num_items=run.num_items, limits=limits)


def _store_labels(storage: Storage, classifier_id: str, labeled: LabeledItems) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / LABELS_FILE
        labeled.save(path)
        storage.put_file(path, labels_key(classifier_id))


def _add_rows(
    session: Session,
    *,
    tenant: str,
    run: EmbeddingRun,
    spec: ClassifierSpec,
    classifier_id: str,
    labeled: LabeledItems | None,
) -> Classifier:
    params = {
        "embedding_run_id": run.id,
        "labels": DATASET_LABELS if labeled is None else labels_key(classifier_id),
        "regularization": spec.regularization,
    }
    job = Job(
        id=new_id("job"),
        kind=CLASSIFY_KIND,
        tenant=tenant,
        dataset_id=run.dataset_id,
        method=CLASSIFY_METHOD,
        params=params,
        status="queued",
        epochs=1,
        total_steps=0,
        metrics={},
    )
    classifier = Classifier(
        id=classifier_id,
        tenant=tenant,
        name=spec.name,
        model_id=run.model_id,
        embedding_run_id=run.id,
        job_id=job.id,
        classes=[],
        num_labels=0 if labeled is None else len(labeled.names),
        cv_accuracy=None,
        cv_folds=0,
        storage_key=storage_key(classifier_id),
        size_bytes=0,
        details={},
    )
    session.add(job)
    session.flush()  # the job first: the classifier points at it
    session.add(classifier)
    return classifier


def classifier_with_job(session: Session, *, tenant: str, classifier_id: str) -> tuple[Classifier, Job]:
    """The classifier and its job as of one moment (app.jobs.filled_rows says why), or 404."""
    return owned_with_job(session, Classifier, classifier_id, tenant=tenant, kind="classifier")


def ready_classifier(session: Session, *, tenant: str, classifier_id: str) -> Classifier:
    """The classifier if its weights are stored, else 409 naming its status."""
    classifier, job = classifier_with_job(session, tenant=tenant, classifier_id=classifier_id)
    if job.status != "succeeded":
        raise Conflict(f"classifier {classifier_id!r} is {job.status}; it predicts once it has succeeded")
    return classifier


def list_classifiers(
    session: Session, *, tenant: str, limit: int, offset: int
) -> tuple[list[tuple[Classifier, Job]], int]:
    return page_with_jobs(session, Classifier, tenant=tenant, limit=limit, offset=offset)


def delete_classifier(session: Session, *, tenant: str, storage: Storage, classifier_id: str) -> None:
    """Remove the classifier's files and row (its job row stays, as history); 409 while it is queued or running."""
    classifier, job = classifier_with_job(session, tenant=tenant, classifier_id=classifier_id)
    status = job.status
    if status in ACTIVE_STATES:
        raise Conflict(f"classifier {classifier_id!r} is {status}; delete it once its training has ended")
    key = classifier.storage_key
    session.delete(classifier)
    session.commit()
    storage.delete(key)  # after the commit: a failed commit must not leave a row without its files
    storage.delete(f"{LABELS_PREFIX}/{classifier_id}")
