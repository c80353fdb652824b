"""Classifier attempts through the worker's own code against PostgreSQL and real files: what is published is
the fitted model and its card, labels of a run that is gone fail the job for good, and a run's files that
cannot be read are retried."""

import json
import shutil
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from app.classifiers.orm import Classifier
from app.core.db import session_factory
from app.embedding_runs.files import read_run_arrays
from app.jobs.orm import Job
from selfsup.curation.fewshot import LinearClassifier
from tests.support.classifiers import fit_pending, labeled_run, start_classifier

LABELS = {"0": "even", "1": "odd", "2": "even", "3": "odd", "4": "even", "5": "odd"}


def blobs(service_env: dict[str, str]) -> Path:
    return Path(service_env["SELFSUP_DATA_DIR"]) / "blobs"


def job_of(classifier_id: str) -> Job:
    with session_factory()() as session:
        return session.get_one(Job, session.get_one(Classifier, classifier_id).job_id)


def test_the_published_weights_and_card_are_the_fit_on_the_labeled_rows(
    client: TestClient, service_env: dict[str, str]
) -> None:
    run = labeled_run(client)
    classifier = start_classifier(client, run["id"], LABELS, regularization=2.0)
    assert (blobs(service_env) / "classifier-labels" / classifier["id"]).is_dir()
    assert fit_pending() == ["succeeded"]

    folder = blobs(service_env) / "classifiers" / classifier["id"]
    card = json.loads((folder / "card.json").read_text())
    assert card["classes"] == ["even", "odd"] and card["class_counts"] == {"even": 3, "odd": 3}
    assert card["regularization"] == 2.0 and card["embedding_run_id"] == run["id"] and card["cv_folds"] == 3
    with np.load(folder / "classifier.npz") as arrays:
        weights = LinearClassifier.from_arrays(arrays)
    vectors = read_run_arrays(blobs(service_env) / "embedding-runs" / run["id"]).vectors
    served = client.post(f"/v1/classifiers/{classifier['id']}/predict", json={"items": [0, 1, 40]}).json()
    assert [p["label"] for p in served["predictions"]] == weights.predict(np.asarray(vectors[[0, 1, 40]]))
    assert not (blobs(service_env) / "classifier-labels" / classifier["id"]).exists()  # the card keeps them
    shown = client.get(f"/v1/classifiers/{classifier['id']}").json()
    assert shown["cv_accuracy"] == card["cv_accuracy"] and shown["size_bytes"] > 0


def test_a_run_deleted_before_the_fit_fails_it_for_good_and_unreadable_vectors_are_retried(
    client: TestClient, service_env: dict[str, str]
) -> None:
    run = labeled_run(client)
    doomed = start_classifier(client, run["id"], LABELS)
    assert client.delete(f"/v1/embedding-runs/{run['id']}").status_code == 204
    assert fit_pending() == ["failed"]
    job = job_of(doomed["id"])
    assert job.status == "failed" and job.attempts == 1 and "embedding run was deleted" in (job.error or "")
    assert client.get(f"/v1/classifiers/{doomed['id']}").json()["error"] == job.error

    again = labeled_run(client)
    retried = start_classifier(client, again["id"], "dataset")
    vectors = blobs(service_env) / "embedding-runs" / again["id"] / "vectors.npy"
    kept = vectors.with_suffix(".kept")
    shutil.move(vectors, kept)
    outcomes = fit_pending()  # every attempt meets the missing file, up to the attempt cap
    assert outcomes[0] == "requeued" and outcomes[-1] == "failed"
    job = job_of(retried["id"])
    assert job.status == "failed" and job.attempts == len(outcomes) and "vectors.npy" in (job.error or "")
