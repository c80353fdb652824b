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

from sqlalchemy import select
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
from app.core.queries import get_owned, paged
from app.core.storage import Storage
from app.embedding_runs.orm import EmbeddingRun
from app.embedding_runs.service import latest_ready_run, ready_run
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


def get_classifier(session: Session, *, tenant: str, classifier_id: str) -> Classifier:
    """The classifier, or 404 whether it is missing or another tenant's."""
    return get_owned(session, Classifier, classifier_id, tenant=tenant, kind="classifier")


def classifier_job(session: Session, classifier: Classifier) -> Job:
    return session.get_one(Job, classifier.job_id)


def ready_classifier(session: Session, *, tenant: str, classifier_id: str) -> Classifier:
    """The classifier if its weights are stored, else 409 naming its status."""
    classifier = get_classifier(session, tenant=tenant, classifier_id=classifier_id)
    status = classifier_job(session, classifier).status
    if status != "succeeded":
        raise Conflict(f"classifier {classifier_id!r} is {status}; it predicts once it has succeeded")
    return classifier


def list_classifiers(session: Session, *, tenant: str, limit: int, offset: int) -> tuple[list[Classifier], int]:
    query = select(Classifier).where(Classifier.tenant == tenant)
    order = (Classifier.created_at.desc(), Classifier.id)
    return paged(session, query, order_by=order, limit=limit, offset=offset)


def jobs_of(session: Session, classifiers: list[Classifier]) -> dict[str, Job]:
    """The classifiers' jobs by id, in one query."""
    ids = [classifier.job_id for classifier in classifiers]
    return {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))} if ids else {}


def delete_classifier(session: Session, *, tenant: str, storage: Storage, classifier_id: str) -> None:
    """Remove the classifier's files and row (its job row stays, as history); 409 while it is queued or running."""
    classifier = get_classifier(session, tenant=tenant, classifier_id=classifier_id)
    status = classifier_job(session, classifier).status
    if status in ACTIVE_STATES:
        raise Conflict(f"classifier {classifier_id!r} is {status}; delete it once its training has ended")
    key = classifier.storage_key
    session.delete(classifier)
    session.commit()
    storage.delete(key)  # after the commit: a failed commit must not leave a row without its files
    storage.delete(f"{LABELS_PREFIX}/{classifier_id}")
