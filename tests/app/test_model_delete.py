"""DELETE /v1/models/{id} on PostgreSQL and real files: the row, its files and its export archives go and the
quota is freed; while an alias, an embedding run or a distillation still uses the model, a 409 names each and
nothing is removed. A model's export archives count against its tenant's quota."""

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core import config
from app.core.db import session_factory
from app.models.orm import RegisteredModel
from app.quotas.service import stored_bytes
from tests.conftest import new_key
from tests.support.embedding_runs import embed_pending, start_run
from tests.support.images import digit_pngs
from tests.support.jobs import train_image_model, upload_digits


@pytest.fixture
def model_id(client: TestClient) -> str:
    return train_image_model(client, count=32, batch_size=16)


def model_files(service_env: dict[str, str], model_id: str) -> Path:
    return Path(service_env["SELFSUP_DATA_DIR"]) / "blobs" / "models" / model_id


def tenant_bytes() -> int:
    with session_factory()() as session:
        return stored_bytes(session, tenant="acme")


def model_bytes(model_id: str) -> int:
    with session_factory()() as session:
        return session.get_one(RegisteredModel, model_id).size_bytes


def assert_refused_for(client: TestClient, service_env: dict[str, str], model_id: str, reason: str) -> None:
    refused = client.delete(f"/v1/models/{model_id}")
    assert refused.status_code == 409 and reason in refused.json()["detail"], refused.text
    assert_untouched(client, service_env, model_id)


def assert_untouched(client: TestClient, service_env: dict[str, str], model_id: str) -> None:
    assert client.get(f"/v1/models/{model_id}").status_code == 200
    assert any(model_files(service_env, model_id).iterdir()), "the model's files were removed"


def test_a_deleted_model_is_gone_with_its_files_and_its_quota_share(
    client: TestClient, service_env: dict[str, str], model_id: str
) -> None:
    client.app.state.models.seconds = 600  # type: ignore[attr-defined]  # a lookup that outlives the delete
    image = base64.b64encode(digit_pngs(1)[0][1]).decode()
    served = client.post(f"/v1/models/{model_id}/embed", json={"inputs": [image]})
    assert served.status_code == 200, served.text  # its lookup and its encoder are now in this server's caches
    exported = client.get(f"/v1/models/{model_id}/export", params={"format": "safetensors"})
    assert exported.status_code == 200, exported.text
    exports = Path(service_env["SELFSUP_DATA_DIR"]) / "blobs" / "exports" / model_id
    size, before = model_bytes(model_id), tenant_bytes()
    assert size > len(exported.content) and model_files(service_env, model_id).is_dir() and exports.is_dir()

    assert client.delete(f"/v1/models/{model_id}").status_code == 204
    assert client.get(f"/v1/models/{model_id}").status_code == 404
    assert model_id not in [m["id"] for m in client.get("/v1/models").json()["items"]]
    assert not model_files(service_env, model_id).exists() and not exports.exists()
    assert tenant_bytes() == before - size
    assert client.post(f"/v1/models/{model_id}/embed", json={"inputs": [image]}).status_code == 404
    assert client.delete(f"/v1/models/{model_id}").status_code == 404


def test_an_alias_keeps_its_model_until_it_is_removed(
    client: TestClient, service_env: dict[str, str], model_id: str
) -> None:
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "prod"}).status_code == 200
    assert_refused_for(client, service_env, model_id, "alias 'prod' points at it")
    assert client.delete("/v1/aliases/prod").status_code == 204
    assert client.delete(f"/v1/models/{model_id}").status_code == 204


def test_an_embedding_run_keeps_its_model_until_it_is_deleted(
    client: TestClient, service_env: dict[str, str], model_id: str
) -> None:
    run = start_run(client, model_id, upload_digits(client, 16)["id"])
    assert embed_pending() == ["succeeded"]
    assert_refused_for(client, service_env, model_id, "1 embedding run embedded with it")
    assert client.delete(f"/v1/embedding-runs/{run['id']}").status_code == 204
    assert client.delete(f"/v1/models/{model_id}").status_code == 204


def test_a_waiting_distillation_keeps_its_teacher(
    client: TestClient, service_env: dict[str, str], model_id: str
) -> None:
    student = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 16, "teacher": model_id}
    body = {"dataset_id": upload_digits(client, 16)["id"], "method": "distill", "params": student}
    job = client.post("/v1/jobs", json=body)
    assert job.status_code == 202, job.text
    assert_refused_for(client, service_env, model_id, f"job {job.json()['id']!r} is distilling from it")
    assert client.post(f"/v1/jobs/{job.json()['id']}/cancel").status_code == 202
    assert client.delete(f"/v1/models/{model_id}").status_code == 204


def test_another_tenants_model_cannot_be_deleted(
    client: TestClient, service_env: dict[str, str], model_id: str
) -> None:
    outsider = TestClient(client.app, headers={"Authorization": f"Bearer {new_key(tenant='globex')}"})
    refused = outsider.delete(f"/v1/models/{model_id}")
    assert refused.status_code == 404 and refused.json()["detail"] == f"model {model_id!r} not found"
    reader = TestClient(client.app, headers={"Authorization": f"Bearer {new_key(scopes=('read',))}"})
    assert reader.delete(f"/v1/models/{model_id}").status_code == 403
    assert_untouched(client, service_env, model_id)


def test_an_export_archive_counts_against_the_quota_and_is_not_built_past_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, model_id: str
) -> None:
    encoder_only = model_bytes(model_id)
    archive = client.get(f"/v1/models/{model_id}/export", params={"format": "safetensors"}).content
    assert model_bytes(model_id) == encoder_only + len(archive)
    again = client.get(f"/v1/models/{model_id}/export", params={"format": "safetensors"})
    assert again.content == archive and model_bytes(model_id) == encoder_only + len(archive), "counted once"

    monkeypatch.setenv("SELFSUP_TENANT_MAX_STORED_BYTES", str(tenant_bytes()))
    config.get_settings.cache_clear()
    refused = client.get(f"/v1/models/{model_id}/export", params={"format": "onnx"})
    assert refused.status_code == 429 and "storage limit" in refused.json()["detail"], refused.text
    assert model_bytes(model_id) == encoder_only + len(archive), "the refused build stored nothing"
    kept = client.get(f"/v1/models/{model_id}/export", params={"format": "safetensors"})
    assert kept.status_code == 200 and kept.content == archive, "a built archive still streams"
