"""A service with small limits for the hostile-input tests, and the check that a refusal left storage alone.

The service runs on PostgreSQL with small limits, so that each bomb fits in a few kilobytes.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_key, reset_service_caches
from tests.support import ingest
from tests.support.images import digits_zip

LIMITS = {
    "SELFSUP_MAX_UPLOAD_BYTES": "65536",
    "SELFSUP_MAX_JSON_BYTES": "4096",
    "SELFSUP_MAX_ARCHIVE_MEMBERS": "40",
    "SELFSUP_MAX_EXTRACTED_BYTES": "200000",
    "SELFSUP_MAX_MEMBER_BYTES": "20000",
    "SELFSUP_MAX_IMAGE_PIXELS": "10000",
}
ZEROS = b"\0" * 300_000  # deflates to a few hundred bytes


@pytest.fixture
def limited_env(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)
    reset_service_caches()
    return {**service_env, **LIMITS}


@pytest.fixture
def limited(limited_env: dict[str, str]) -> Iterator[TestClient]:
    """An admin client of a service with small limits, holding one dataset that every refusal must leave alone."""
    from app.main import create_app

    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {new_key()}"
        ingest.upload_ready(client, {"file": ("digits.zip", digits_zip(4))}, {"name": "d", "image_size": "8"})
        yield client


@pytest.fixture
def data_dir(service_env: dict[str, str]) -> Path:
    return Path(service_env["SELFSUP_DATA_DIR"])


def upload(client: TestClient, data: bytes, filename: str = "digits.zip") -> httpx.Response:
    return client.post("/v1/datasets", files={"file": (filename, data)}, data={"name": "d", "image_size": "8"})


def detail_text(response: httpx.Response) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " | ".join(f"{e['loc']}: {e['msg']}" for e in detail)


FAILED = 0  # the upload is accepted (202), and its ingest fails the dataset


def assert_refused(client: TestClient, data_dir: Path, response: httpx.Response, status: int, *needles: str) -> None:
    """The status (or, for ``FAILED``, a dataset whose ingest failed), a message naming each needle, and storage
    exactly as the one earlier upload left it."""
    if status == FAILED:
        assert response.status_code == 202, response.text
        ingest.ingest_pending()
        dataset = client.get(f"/v1/datasets/{response.json()['id']}").json()
        assert dataset["status"] == "failed", dataset
        text = dataset["error"]
    else:
        assert response.status_code == status, response.text
        text = detail_text(response)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    staging = data_dir / "blobs" / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == [], "a half-written upload was left behind"
    assert len(list((data_dir / "blobs" / "datasets").iterdir())) == 1, "the earlier dataset must stay, alone"
    uploads = data_dir / "blobs" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == [], "an upload outlived its ingest"
    assert [d["status"] for d in client.get("/v1/datasets").json()["items"]].count("ready") == 1
