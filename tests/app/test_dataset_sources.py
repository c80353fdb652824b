"""A dataset from each source the upload route takes: a completed resumable upload (on both storage backends)
and an object-store prefix the operator allows (read from a real S3 server process by the ingest worker's own
code); and what it refuses."""

import pytest
from fastapi.testclient import TestClient

from app.core import config
from app.core.storage import open_storage
from tests.conftest import new_key
from tests.support import s3
from tests.support.images import digit_pngs, tar_bytes
from tests.support.ingest import ingest_pending
from tests.support.s3 import ChildProcess

PART = 8192


def resumable_upload(client: TestClient, data: bytes, filename: str) -> str:
    upload_id = client.post("/v1/uploads", json={"filename": filename, "bytes": len(data)}).json()["id"]
    for number, start in enumerate(range(0, len(data), PART), start=1):
        sent = client.put(f"/v1/uploads/{upload_id}/parts/{number}", content=data[start : start + PART])
        assert sent.status_code == 200, sent.text
    assert client.post(f"/v1/uploads/{upload_id}/complete").json()["status"] == "completed"
    return str(upload_id)


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, service_env: dict[str, str]) -> str:
    if request.param == "s3":
        request.getfixturevalue("s3_env")
    monkeypatch.setenv("SELFSUP_MAX_UPLOAD_PART_BYTES", str(PART))
    config.get_settings.cache_clear()
    return str(request.param)


def test_a_completed_resumable_upload_becomes_a_dataset_and_its_parts_go(store: str, client: TestClient) -> None:
    archive = tar_bytes(digit_pngs(40), mode="w")
    upload_id = resumable_upload(client, archive, "digits.tar")
    accepted = client.post("/v1/datasets", data={"name": "digits", "upload_id": upload_id, "image_size": "16"})
    assert accepted.status_code == 202, accepted.text
    assert client.get(f"/v1/uploads/{upload_id}").json()["status"] == "consumed"
    again = client.post("/v1/datasets", data={"name": "twice", "upload_id": upload_id})
    assert again.status_code == 409 and "consumed" in again.json()["detail"]
    assert ingest_pending() == ["succeeded"]
    dataset = client.get(f"/v1/datasets/{accepted.json()['id']}").json()
    assert dataset["status"] == "ready" and dataset["num_items"] == 40
    assert open_storage(config.get_settings()).list("uploads") == [], "the parts went once the dataset was ready"


def test_an_open_upload_or_another_tenants_is_not_taken(service_env: dict[str, str], client: TestClient) -> None:
    upload_id = client.post("/v1/uploads", json={"filename": "a.tar"}).json()["id"]
    client.put(f"/v1/uploads/{upload_id}/parts/1", content=b"x")
    open_one = client.post("/v1/datasets", data={"name": "d", "upload_id": upload_id})
    assert open_one.status_code == 409 and "complete it first" in open_one.json()["detail"]
    client.post(f"/v1/uploads/{upload_id}/complete")
    other = {"Authorization": f"Bearer {new_key(tenant='beta')}"}
    assert client.post("/v1/datasets", data={"name": "d", "upload_id": upload_id}, headers=other).status_code == 404
    assert client.get(f"/v1/uploads/{upload_id}").json()["status"] == "completed"


def test_exactly_one_source_is_taken(service_env: dict[str, str], client: TestClient) -> None:
    none = client.post("/v1/datasets", data={"name": "d"})
    assert none.status_code == 422 and "exactly one of file, upload_id or source" in none.text
    both = client.post(
        "/v1/datasets", data={"name": "d", "source": "s3://b/p"}, files={"file": ("a.zip", b"PK", "application/zip")}
    )
    assert both.status_code == 422 and "got file, source" in both.text


@pytest.fixture
def imports_bucket(monkeypatch: pytest.MonkeyPatch, s3_server: ChildProcess, service_env: dict[str, str]) -> str:
    """A bucket of the operator's own, with a folder per tenant that tenant may import from."""
    bucket = s3.new_bucket(s3_server.url)
    for key, value in {
        **s3.AWS_ENV,
        "SELFSUP_S3_ENDPOINT_URL": s3_server.url,
        "SELFSUP_S3_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SELFSUP_IMPORT_ALLOWED_PREFIXES", f"s3://{bucket}/tenants/{{tenant}}")
    config.get_settings.cache_clear()
    client = s3.client(s3_server.url)
    for name, data in digit_pngs(30):
        client.put_object(Bucket=bucket, Key=f"tenants/acme/digits/{name}", Body=data)
    client.put_object(Bucket=bucket, Key="tenants/beta/secret/0.png", Body=digit_pngs(1)[0][1])
    return bucket


def test_an_allowed_prefix_is_imported_by_the_ingest_worker(imports_bucket: str, client: TestClient) -> None:
    accepted = client.post(
        "/v1/datasets", data={"name": "imported", "source": f"s3://{imports_bucket}/tenants/acme/digits"}
    )
    assert accepted.status_code == 202, accepted.text
    assert ingest_pending() == ["succeeded"]
    dataset = client.get(f"/v1/datasets/{accepted.json()['id']}").json()
    assert dataset["status"] == "ready" and dataset["num_items"] == 30, dataset


@pytest.mark.parametrize(
    "path",
    ["tenants/beta/secret", "tenants/acme-evil/x", "tenants", "other/place", "tenants/acme/../beta/secret"],
)
def test_prefixes_outside_the_tenants_own_are_refused(imports_bucket: str, client: TestClient, path: str) -> None:
    refused = client.post("/v1/datasets", data={"name": "x", "source": f"s3://{imports_bucket}/{path}"})
    assert refused.status_code in (403, 422), refused.text
    assert client.get("/v1/datasets").json()["total"] == 0


def test_imports_are_off_unless_the_operator_allows_some(service_env: dict[str, str], client: TestClient) -> None:
    refused = client.post("/v1/datasets", data={"name": "x", "source": "s3://bucket/data"})
    assert refused.status_code == 403 and "SELFSUP_IMPORT_ALLOWED_PREFIXES" in refused.json()["detail"]


def test_queued_ingests_count_their_stored_uploads_toward_the_tenants_bytes(
    monkeypatch: pytest.MonkeyPatch, service_env: dict[str, str], client: TestClient
) -> None:
    archive = tar_bytes(digit_pngs(20), mode="w")
    monkeypatch.setenv("SELFSUP_TENANT_MAX_STORED_BYTES", str(len(archive) * 3 // 2))
    config.get_settings.cache_clear()
    files = {"file": ("digits.tar", archive, "application/x-tar")}
    form = {"name": "small", "image_size": "8"}  # decodes to less than the archive: only the upload counts
    first = client.post("/v1/datasets", data=form, files=files)
    assert first.status_code == 202 and first.json()["size_bytes"] == len(archive)
    flood = client.post("/v1/datasets", data=form, files=files)  # not ingested yet: still counted
    assert flood.status_code == 429 and "storage limit" in flood.json()["detail"]
    assert [item.key for item in open_storage(config.get_settings()).list("uploads")] == [
        f"uploads/{first.json()['id']}/upload"
    ], "the refused upload left nothing stored"
    other = {"Authorization": f"Bearer {new_key(tenant='beta')}"}
    assert client.post("/v1/datasets", data=form, files=files, headers=other).status_code == 202
    assert ingest_pending() == ["succeeded", "succeeded"]
