"""Classifiers over HTTP on PostgreSQL, the worker side run in-process with its own code: train one on a run's
dataset labels, on labels by index (JSON and CSV), predict stored items and new images; the refusals: labels
that name no item, one class, oversized sets, a run not ready or without labels; other tenants; delete."""

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core import config
from tests.conftest import new_key
from tests.support.classifiers import fit_pending, labeled_run, start_classifier
from tests.support.embedding_runs import start_run

DIGITS = [str(d) for d in range(10)]


@pytest.fixture
def run(client: TestClient) -> dict:
    return labeled_run(client)


def other_tenant() -> dict[str, str]:
    return {"Authorization": f"Bearer {new_key('globex')}"}


def predict(client: TestClient, classifier_id: str, **body: object) -> list[dict]:
    response = client.post(f"/v1/classifiers/{classifier_id}/predict", json=body)
    assert response.status_code == 200, response.text
    return list(response.json()["predictions"])


def test_dataset_labels_train_a_classifier_that_predicts_stored_items_and_new_images(
    client: TestClient, run: dict
) -> None:
    queued = start_classifier(client, run["id"], "dataset", name="digits")
    assert queued["status"] == "queued" and queued["model_id"] == run["model_id"] and queued["classes"] == []
    assert client.post(f"/v1/classifiers/{queued['id']}/predict", json={"items": [0]}).status_code == 409

    assert fit_pending() == ["succeeded"]
    shown = client.get(f"/v1/classifiers/{queued['id']}").json()
    assert shown["status"] == "succeeded" and shown["name"] == "digits" and shown["error"] is None
    assert shown["classes"] == sorted(DIGITS) and shown["num_labels"] == 64
    assert shown["cv_folds"] >= 2 and 0 <= shown["cv_accuracy"] <= 1 and shown["size_bytes"] > 0
    assert client.get("/v1/classifiers").json()["total"] == 1

    stored = predict(client, shown["id"], items=[0, 7, 63])
    assert len(stored) == 3
    for prediction in stored:
        assert sorted(prediction["probabilities"]) == sorted(DIGITS)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)

    # The stored images themselves, embedded again by the model, are classified as their stored vectors are.
    images = [client.get(f"/v1/datasets/{run['dataset_id']}/items/{i}").content for i in (0, 7, 63)]
    as_json = predict(client, shown["id"], inputs=[base64.b64encode(image).decode() for image in images])
    files = [("files", (f"{i}.png", image, "image/png")) for i, image in enumerate(images)]
    as_files = client.post(f"/v1/classifiers/{shown['id']}/predict", files=files).json()["predictions"]
    for fresh, upload, kept in zip(as_json, as_files, stored, strict=True):
        assert fresh == upload
        np.testing.assert_allclose(
            [fresh["probabilities"][c] for c in DIGITS], [kept["probabilities"][c] for c in DIGITS], atol=1e-3
        )


def test_labels_by_index_as_json_or_a_csv_file(client: TestClient, run: dict) -> None:
    labels = {"0": "cat", "1": "dog", "2": "cat", "3": "dog", "10": "cat", "11": "dog"}
    by_json = start_classifier(client, run["id"], labels, regularization=0.5)
    csv = "index,label\n" + "".join(f"{index},{label}\n" for index, label in labels.items())
    by_csv = client.post(
        "/v1/classifiers",
        data={"embedding_run_id": run["id"], "name": "pets"},
        files={"labels": ("labels.csv", csv.encode(), "text/csv")},
    )
    assert by_csv.status_code == 202, by_csv.text
    assert by_json["num_labels"] == 6 and by_csv.json()["name"] == "pets"

    assert fit_pending() == ["succeeded", "succeeded"]
    for classifier_id in (by_json["id"], by_csv.json()["id"]):
        shown = client.get(f"/v1/classifiers/{classifier_id}").json()
        assert shown["classes"] == ["cat", "dog"] and shown["num_labels"] == 6 and shown["cv_folds"] == 3
        assert {p["label"] for p in predict(client, classifier_id, items=list(range(12)))} <= {"cat", "dog"}


def test_a_model_and_its_dataset_stand_for_their_latest_run(client: TestClient, run: dict) -> None:
    pair = {"model_id": run["model_id"], "dataset_id": run["dataset_id"], "labels": "dataset"}
    queued = client.post("/v1/classifiers", json=pair)
    assert queued.status_code == 202, queued.text
    assert queued.json()["embedding_run_id"] == run["id"]
    both = client.post("/v1/classifiers", json={**pair, "embedding_run_id": run["id"]})
    assert both.status_code == 422 and "model_id with dataset_id" in both.text
    half = client.post("/v1/classifiers", json={"model_id": run["model_id"], "labels": "dataset"})
    assert half.status_code == 422
    other = client.post("/v1/classifiers", json=pair, headers=other_tenant())
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("labels", "where", "says"),
    [
        ({"0": "a", "64": "b"}, ["body", "labels", "64"], "past the embedding run's 64 items"),
        ({"0": "a", "x1": "b"}, ["body", "labels", "x1"], "non-negative integer"),
        ({"0": "a", "01": "b", "1": "b"}, ["body", "labels", "1"], "labeled twice"),
        ({"0": "a", "1": "a"}, ["body", "labels"], "at least 2 classes"),
        ({"0": "a", "1": "b" * 201}, ["body", "labels", "1"], "at most 200 characters"),
        ({"0": "a", "1": " "}, ["body", "labels", "1"], "non-empty"),
    ],
)
def test_labels_that_cannot_train_are_refused_naming_the_key(
    client: TestClient, run: dict, labels: dict[str, str], where: list[str], says: str
) -> None:
    response = client.post("/v1/classifiers", json={"embedding_run_id": run["id"], "labels": labels})
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == where and says in error["msg"]


def test_csv_files_oversized_sets_and_runs_that_cannot_be_trained_on_are_refused(
    client: TestClient, run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def post_csv(text: str) -> dict:
        response = client.post(
            "/v1/classifiers",
            data={"embedding_run_id": run["id"]},
            files={"labels": ("l.csv", text.encode(), "text/csv")},
        )
        assert response.status_code == 422, response.text
        return dict(response.json()["detail"][0])

    assert "header 'index,label'" in post_csv("item,class\n0,a\n1,b\n")["msg"]
    assert post_csv("index,label\n0,a\n1,b\n0,c\n")["loc"] == ["body", "labels", "line 4"]
    assert post_csv("index,label\n0,a,x\n")["loc"] == ["body", "labels", "line 2"]

    monkeypatch.setenv("SELFSUP_CLASSIFIER_MAX_LABELS", "3")
    monkeypatch.setenv("SELFSUP_CLASSIFIER_MAX_CLASSES", "2")
    config.get_settings.cache_clear()
    many = client.post(
        "/v1/classifiers", json={"embedding_run_id": run["id"], "labels": {str(i): "a" for i in range(4)}}
    )
    assert many.status_code == 422 and "more than the 3 allowed" in many.text
    classes = client.post(
        "/v1/classifiers", json={"embedding_run_id": run["id"], "labels": {"0": "a", "1": "b", "2": "c"}}
    )
    assert classes.status_code == 422 and "more than the 2 allowed" in classes.text
    assert client.post("/v1/classifiers", json={"embedding_run_id": run["id"], "labels": "dataset"}).status_code == 422

    queued = start_run(client, run["model_id"], run["dataset_id"])
    waiting = client.post("/v1/classifiers", json={"embedding_run_id": queued["id"], "labels": {"0": "a", "1": "b"}})
    assert waiting.status_code == 409 and "queued" in waiting.text
    missing = client.post("/v1/classifiers", json={"embedding_run_id": "emb_nope", "labels": {"0": "a", "1": "b"}})
    assert missing.status_code == 404
    bad = client.post("/v1/classifiers", json={"embedding_run_id": run["id"], "labels": "all", "extra": 1})
    assert bad.status_code == 422 and "extra" in bad.text


def test_other_tenants_see_no_classifier_nor_run_and_a_deleted_one_is_gone(client: TestClient, run: dict) -> None:
    classifier = start_classifier(client, run["id"], {"0": "a", "1": "b", "2": "a", "3": "b"})
    assert fit_pending() == ["succeeded"]
    stranger = other_tenant()
    path = f"/v1/classifiers/{classifier['id']}"
    assert client.get(path, headers=stranger).status_code == 404
    assert client.post(f"{path}/predict", json={"items": [0]}, headers=stranger).status_code == 404
    assert client.delete(path, headers=stranger).status_code == 404
    assert client.get("/v1/classifiers", headers=stranger).json()["total"] == 0
    theirs = client.post(
        "/v1/classifiers", json={"embedding_run_id": run["id"], "labels": {"0": "a", "1": "b"}}, headers=stranger
    )
    assert theirs.status_code == 404 and "embedding run" in theirs.text

    past = client.post(f"{path}/predict", json={"items": [0, 64]})
    assert past.status_code == 422 and past.json()["detail"][0]["loc"] == ["body", "items", 1]
    both = client.post(f"{path}/predict", json={"items": [0], "texts": ["a"]})
    assert both.status_code == 422 and "exactly one of" in both.text
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404
    assert client.post(f"{path}/predict", json={"items": [0]}).status_code == 404
