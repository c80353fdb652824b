"""One attempt of a classifier: claim, read its run's vectors and its labels, fit, publish, mark it succeeded.

The fit takes seconds to minutes on one host's CPU; nothing is resumed, a retried attempt starts over. The
weights (``classifier.npz``) and a card saying what they were trained on are published under
``classifiers/<id>`` and marked succeeded with the cross-validated accuracy in one commit.
"""

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.classifiers.attempts import ClassifyTask, mark_succeeded, read_task
from app.classifiers.labels import DATASET_LABELS, LabeledItems
from app.classifiers.predict import CARD_FILE, CLASSIFIER_FILE
from app.classifiers.service import LABELS_PREFIX
from app.core.cache import BlobCache
from app.core.config import Settings
from app.core.db import session_factory
from app.core.storage import Storage, open_storage
from app.embedding_runs.files import RunArrays, read_run_arrays
from app.jobs.lease import Claim, finish_claim
from selfsup.curation.fewshot import FitResult, fit_classifier
from worker.attempts import outcome, release, staged_attempt
from worker.heartbeat import LeaseLost

log = logging.getLogger(__name__)


class BadLabels(Exception):
    """The labels cannot train a classifier (or the run they label is gone): another try would fail again."""


def staging_prefix(job_id: str) -> str:
    return f"classify-{job_id}-"


def run_classify_claim(claim: Claim, *, settings: Settings) -> str:
    """Fit the claimed classifier to its end: succeeded, failed (bad labels: for good), requeued, or lost."""
    storage = open_storage(settings)
    blobs = BlobCache.from_settings(settings, storage)
    try:
        with staged_attempt(claim, settings, storage, prefix=staging_prefix(claim.job_id)) as (workdir, _):
            return _attempt(claim, blobs, workdir)
    except LeaseLost:
        log.warning("classifier %s: lease lost; another worker owns it now", claim.job_id)
        return "lease_lost"
    except BadLabels as exc:
        log.info("classifier %s failed: %s", claim.job_id, exc)
        return _fail(claim, str(exc))
    except Exception as exc:  # I/O, a lost database, a crashed library: another attempt may succeed
        log.exception("classifier %s attempt %d failed", claim.job_id, claim.attempt)
        return outcome(release(claim, f"{type(exc).__name__}: {exc}", settings))


def _attempt(claim: Claim, blobs: BlobCache, workdir: Path) -> str:
    with session_factory()() as session:
        task = read_task(session, job_id=claim.job_id)
    if task is None:
        raise BadLabels("the classifier was deleted before it could be trained")
    if task.run_id is None:
        raise BadLabels("its embedding run was deleted before the classifier could be trained")
    blobs.storage.delete(task.storage_key)  # published by an attempt that died before it committed
    with blobs.local(task.run_key) as run_dir:
        arrays = read_run_arrays(run_dir)
        labeled = _labeled_items(task, arrays, blobs.storage, workdir)
        vectors = np.asarray(arrays.vectors[labeled.indices], dtype=np.float32)  # (L, D)
    try:
        result = fit_classifier(vectors, labeled.names, regularization=task.regularization)
    except ValueError as exc:  # fewer than 2 classes, say
        raise BadLabels(str(exc)) from None
    out_dir = workdir / "classifier"
    out_dir.mkdir()
    _write_classifier(task, result, out_dir)
    _publish(claim, blobs.storage, task, out_dir, result)
    blobs.storage.delete(f"{LABELS_PREFIX}/{task.classifier_id}")  # the card keeps what they were
    return "succeeded"


def _labeled_items(task: ClassifyTask, arrays: RunArrays, storage: Storage, workdir: Path) -> LabeledItems:
    """The labels sent with the request (checked against the run when it was submitted), or the run's own."""
    if task.labels_key != DATASET_LABELS:
        path = workdir / "labels.npz"
        storage.fetch_file(task.labels_key, path)
        labeled = LabeledItems.load(path)
        if labeled.indices.size and int(labeled.indices.max()) >= len(arrays.vectors):
            raise BadLabels(f"a labeled item is past the run's {len(arrays.vectors)} items")
        return labeled
    if arrays.labels is None:
        raise BadLabels(f"embedding run {task.run_id!r} has no labels of its dataset")
    indices = np.flatnonzero(np.asarray(arrays.labels) >= 0)
    names = [arrays.classes[int(label)] for label in np.asarray(arrays.labels)[indices]]
    return LabeledItems(indices=indices.astype(np.int64), names=names)


def _write_classifier(task: ClassifyTask, result: FitResult, out_dir: Path) -> None:
    arrays: dict[str, Any] = result.classifier.to_arrays()  # numpy's stubs take **kwds as its allow_pickle
    np.savez(out_dir / CLASSIFIER_FILE, **arrays)
    card = {
        "model_id": task.model_id,
        "embedding_run_id": task.run_id,
        "classes": result.classifier.classes,
        "class_counts": result.class_counts,
        "num_labels": sum(result.class_counts.values()),
        "cv_accuracy": result.cv_accuracy,
        "cv_folds": result.cv_folds,
        "regularization": task.regularization,
    }
    (out_dir / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False))


def _publish(claim: Claim, storage: Storage, task: ClassifyTask, out_dir: Path, result: FitResult) -> None:
    """Publish the folder, then end the job (a fenced write) with the classifier's numbers in one commit; a
    failure before the commit removes the published files."""
    try:
        storage.publish(out_dir, task.storage_key)
        size_bytes = storage.size_bytes(task.storage_key)
        with session_factory()() as session:
            if not mark_succeeded(
                session, claim=claim, classifier_id=task.classifier_id, result=result, size_bytes=size_bytes
            ):
                session.rollback()
                raise LeaseLost(claim.job_id)
            session.commit()
    except LeaseLost:
        raise  # the prefix is the newer attempt's now: it clears it before it publishes
    except BaseException:
        with contextlib.suppress(Exception):  # the store may be away: the error that matters is the first one
            storage.delete(task.storage_key)
        raise


def _fail(claim: Claim, error: str) -> str:
    with session_factory()() as session:
        ended = finish_claim(session, claim=claim, status="failed", error=error)
        session.commit()
    return "failed" if ended else "lease_lost"
