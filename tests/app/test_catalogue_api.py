"""Methods, models, health and readiness over HTTP."""

import pytest
from fastapi.testclient import TestClient

from tests.conftest import reset_service_caches


def test_methods_come_from_the_engine_registry(client: TestClient) -> None:
    methods = {m["name"]: m for m in client.get("/v1/methods").json()["items"]}
    simclr = methods["simclr"]
    assert simclr["family"] == "contrastive" and simclr["modalities"] == ["image"]
    epochs = simclr["params"]["properties"]["epochs"]
    assert epochs["default"] == 20 and epochs["minimum"] == 1 and epochs["maximum"] == 10_000
    assert "tiny_cnn" in simclr["params"]["properties"]["backbone"]["enum"]
    assert simclr["params"]["additionalProperties"] is False


def test_models_start_empty_and_unknown_ids_are_404(client: TestClient) -> None:
    assert client.get("/v1/models").json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert client.get("/v1/models/mdl_missing").status_code == 404
    response = client.post("/v1/models/mdl_missing/embed", json={"inputs": ["aGVsbG8="]})
    assert response.status_code == 404


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readiness_names_the_broker_when_it_does_not_answer(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.main import create_app

    monkeypatch.setenv("SELFSUP_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    reset_service_caches()
    with TestClient(create_app()) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"] and "broker" in response.json()["detail"]


def test_readiness_names_the_database_when_it_does_not_answer(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.main import create_app

    monkeypatch.setenv("SELFSUP_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_service_caches()
    with TestClient(create_app()) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failing"] == ["database"]
