"""The API with its object store away: 503 with Retry-After, and nothing half-made left behind."""

import pytest
from fastapi.testclient import TestClient

from app.core.db import session_factory
from app.datasets.orm import Dataset
from tests.support.images import digits_zip
from tests.support.processes import free_port


@pytest.fixture
def api_without_store(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SELFSUP_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    from tests.conftest import reset_service_caches

    reset_service_caches()
    return s3_env


def test_an_upload_while_the_store_is_away_is_503_and_records_nothing(
    api_without_store: dict[str, str], client: TestClient
) -> None:
    files = {"file": ("d.zip", digits_zip(16))}
    response = client.post("/v1/datasets", files=files, data={"name": "d", "image_size": "16"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "10", response.text
    assert "storage" in response.json()["detail"] and "127.0.0.1" not in response.text, "no internals in the answer"
    with session_factory()() as session:
        assert session.query(Dataset).count() == 0
