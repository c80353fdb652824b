"""Distillation jobs over HTTP: the teacher is checked and pinned at submit (another tenant's model answers as
an unknown one does), and a worker distills from it and records it with the model."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.db import session_factory, session_scope
from app.jobs.orm import Job
from app.models.orm import RegisteredModel
from tests.conftest import new_key
from tests.support.jobs import run_through_worker, train_image_model, upload_digits
from tests.support.pretrained import install_timm_model
from worker.training import run_job

STUDENT = {"backbone": "tiny_cnn", "epochs": 2, "batch_size": 16, "warmup_epochs": 0}


@pytest.fixture
def dataset_id(client: TestClient) -> str:
    return str(upload_digits(client, 32)["id"])


def add_model_row(model_id: str, *, tenant: str = "acme", modality: str = "image") -> None:
    """A registered model as the worker leaves one, without training it: submit only reads the row."""
    with session_scope() as session:
        session.add(Job(id=f"job_{model_id}", tenant=tenant, dataset_id=None, method="simclr", params={}, epochs=1))
        session.flush()
        session.add(
            RegisteredModel(
                id=model_id,
                job_id=f"job_{model_id}",
                tenant=tenant,
                method="simclr",
                backbone="tiny_cnn",
                modality=modality,
                dim=128,
                storage_key=f"models/{model_id}",
            )
        )


def submit(client: TestClient, dataset_id: str, **params: Any) -> Any:
    body = {"dataset_id": dataset_id, "method": "distill", "params": {**STUDENT, **params}}
    return client.post("/v1/jobs", json=body)


def outsider(client: TestClient) -> TestClient:
    return TestClient(client.app, headers={"Authorization": f"Bearer {new_key(tenant='globex')}"})


def test_a_teacher_named_by_alias_is_pinned_to_its_model_id(client: TestClient, dataset_id: str) -> None:
    add_model_row("mdl_teacher")
    assert client.put("/v1/models/mdl_teacher/alias", json={"alias": "big"}).status_code == 200
    by_alias = submit(client, dataset_id, teacher="big")
    assert by_alias.status_code == 202, by_alias.text
    assert by_alias.json()["params"]["teacher"] == "mdl_teacher", "moving the alias later cannot change the run"
    assert by_alias.json()["params"]["loss"] == "cosine"
    assert submit(client, dataset_id, teacher="mdl_teacher").json()["params"]["teacher"] == "mdl_teacher"


def test_another_tenants_teacher_answers_exactly_as_an_unknown_one(client: TestClient, dataset_id: str) -> None:
    add_model_row("mdl_theirs", tenant="globex")
    assert outsider(client).put("/v1/models/mdl_theirs/alias", json={"alias": "theirs"}).status_code == 200
    answers = {name: submit(client, dataset_id, teacher=name) for name in ("mdl_theirs", "theirs", "mdl_nope", "nope")}
    for name, response in answers.items():
        assert response.status_code == 404, response.text
        assert response.json() == {"detail": f"teacher model {name!r} not found"}
    assert client.get("/v1/jobs").json()["total"] == 0


@pytest.mark.parametrize(
    ("teacher", "message"),
    [
        ("mdl_text", "teacher 'mdl_text' is a text model; a teacher must embed images"),
        ("mdl_table", "teacher 'mdl_table' is a tabular model; a teacher must embed images"),
    ],
)
def test_a_teacher_that_cannot_embed_images_is_refused_naming_the_field(
    client: TestClient, dataset_id: str, teacher: str, message: str
) -> None:
    add_model_row("mdl_text", modality="text")
    add_model_row("mdl_table", modality="tabular")
    response = submit(client, dataset_id, teacher=teacher)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "params", "teacher"] and error["msg"].startswith(message), error


def test_a_distillation_without_a_teacher_is_refused_naming_the_field(client: TestClient, dataset_id: str) -> None:
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "method": "distill", "params": STUDENT})
    assert response.status_code == 422
    assert ["body", "params", "teacher"] in [error["loc"] for error in response.json()["detail"]]
    methods = {m["name"]: m for m in client.get("/v1/methods").json()["items"]}
    assert methods["distill"]["family"] == "distillation" and methods["distill"]["params"]["required"] == ["teacher"]


def test_a_worker_distills_from_the_teacher_and_records_it(client: TestClient, dataset_id: str) -> None:
    teacher_id = train_image_model(client, count=32, batch_size=16)
    assert client.put(f"/v1/models/{teacher_id}/alias", json={"alias": "teacher"}).status_code == 200
    job = run_through_worker(client, dataset_id, "distill", {**STUDENT, "teacher": "teacher"})
    assert job["params"]["teacher"] == teacher_id and job["metrics"]["loss"] > 0
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert (model["method"], model["backbone"], model["dim"]) == ("distill", "tiny_cnn", 128)
    assert model["teacher"] == {"model_id": teacher_id, "method": "simclr", "backbone": "tiny_cnn", "dim": 128}
    assert "knn_top1" in model["evaluation"], "a distilled model is evaluated as any other"
    assert client.get(f"/v1/models/{teacher_id}").json()["teacher"] is None


def test_a_worker_never_loads_another_tenants_teacher(client: TestClient, dataset_id: str) -> None:
    add_model_row("mdl_own")
    add_model_row("mdl_theirs", tenant="globex")
    job_id = submit(client, dataset_id, teacher="mdl_own").json()["id"]
    with session_factory()() as session:  # the row edited behind the API's back
        job = session.get_one(Job, job_id)
        job.params = {**job.params, "teacher": "mdl_theirs"}
        session.commit()
    assert run_job(job_id, settings=get_settings(), worker_name="test") == "failed"
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["attempts"] == 1 and "the teacher model 'mdl_theirs' is gone" in job["error"]


def test_a_worker_distills_from_an_installed_pretrained_teacher(client: TestClient, dataset_id: str) -> None:
    install_timm_model(get_settings().pretrained_dir / "r18-teacher", "resnet18")
    job = run_through_worker(client, dataset_id, "distill", {**STUDENT, "teacher": "pretrained:r18-teacher"})
    assert job["params"]["teacher"] == "pretrained:r18-teacher", "a pretrained teacher keeps its name"
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["teacher"] == {"pretrained": "r18-teacher", "method": None, "backbone": "resnet18", "dim": 512}
    assert (model["backbone"], model["dim"]) == ("tiny_cnn", 128) and "knn_top1" in model["evaluation"]


@pytest.mark.parametrize("name", ["missing", "../../etc", "torn"])
def test_a_pretrained_teacher_that_is_not_installed_or_unreadable_is_a_422(
    client: TestClient, dataset_id: str, name: str
) -> None:
    torn = get_settings().pretrained_dir / "torn"
    torn.mkdir(parents=True, exist_ok=True)
    (torn / "config.json").write_text('{"architecture": "resnet18"}')
    (torn / "model.safetensors").write_bytes(b"not a safetensors file")
    response = submit(client, dataset_id, teacher=f"pretrained:{name}")
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "params", "teacher"] and f"pretrained:{name}" in error["msg"]
