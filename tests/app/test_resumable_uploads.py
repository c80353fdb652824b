"""Resumable uploads through the API on real PostgreSQL: parts in any order, a re-sent part, a dropped
connection resumed from what the server says it has, completion checks, tenants apart, quotas and expiry."""

import hashlib

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, update

from app.core import config
from app.core.db import session_scope
from app.core.migrate import alembic_config, upgrade_to_head
from app.core.storage import open_storage
from app.uploads.orm import ResumableUpload
from tests.conftest import new_key
from worker.reaper import expire_unfinished_uploads

PART = 4096


def test_the_migration_adds_and_removes_the_upload_tables(fresh_database: str) -> None:
    upgrade_to_head(fresh_database)
    engine = create_engine(fresh_database)
    try:
        assert {"resumable_uploads", "upload_parts"} <= set(inspect(engine).get_table_names())
        command.downgrade(alembic_config(fresh_database), "0005")
        assert "upload_parts" not in inspect(engine).get_table_names()
        upgrade_to_head(fresh_database)
    finally:
        engine.dispose()


@pytest.fixture(params=["file", "s3"])
def small_parts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, service_env: dict[str, str]) -> None:
    """Small limits, with blobs on the local disk or in a bucket of the real S3 server."""
    if request.param == "s3":
        request.getfixturevalue("s3_env")
    monkeypatch.setenv("SELFSUP_MAX_UPLOAD_PART_BYTES", str(PART))
    monkeypatch.setenv("SELFSUP_MAX_UPLOAD_BYTES", str(8 * PART))
    config.get_settings.cache_clear()


def stored_parts() -> list[bytes]:
    """What the store holds under ``uploads/``, in key order (parts are numbered in their keys)."""
    storage = open_storage(config.get_settings())
    contents = []
    for item in storage.list("uploads"):
        with storage.open(item.key) as stream:
            contents.append(stream.read())
    return contents


def put(client: TestClient, upload_id: str, number: int, data: bytes, **headers: str) -> object:
    return client.put(f"/v1/uploads/{upload_id}/parts/{number}", content=data, headers=headers)


def test_parts_sent_in_any_order_and_resent_complete_into_one_file(small_parts: None, client: TestClient) -> None:
    body = bytes(range(256)) * 40  # 10240 bytes: parts of 4096, 4096, 2048
    created = client.post("/v1/uploads", json={"filename": "photos.tar", "bytes": len(body)})
    assert created.status_code == 201, created.text
    upload_id = created.json()["id"]
    assert created.json()["status"] == "open" and created.json()["max_part_bytes"] == PART
    chunks = [body[i : i + PART] for i in range(0, len(body), PART)]
    for number in (3, 1, 2):
        answer = put(client, upload_id, number, chunks[number - 1])
        assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
    assert put(client, upload_id, 2, chunks[1]).status_code == 200  # type: ignore[attr-defined]
    state = client.get(f"/v1/uploads/{upload_id}").json()
    assert [p["number"] for p in state["parts"]] == [1, 2, 3] and state["bytes_received"] == len(body)
    assert state["parts"][0]["sha256"] == hashlib.sha256(chunks[0]).hexdigest()
    done = client.post(f"/v1/uploads/{upload_id}/complete")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    parts = stored_parts()
    assert len(parts) == 3  # the replaced sending of part 2 is gone
    assert b"".join(parts) == body


def test_a_dropped_part_leaves_the_recorded_parts_alone_and_is_sent_again(
    small_parts: None, client: TestClient
) -> None:
    upload_id = client.post("/v1/uploads", json={"filename": "a.zip"}).json()["id"]
    assert put(client, upload_id, 1, b"x" * PART).status_code == 200  # type: ignore[attr-defined]
    # A part whose bytes do not match the hash the client computed is refused and not kept.
    wrong = put(client, upload_id, 2, b"y" * 100, **{"x-part-sha256": "0" * 64})
    assert wrong.status_code == 422 and "SHA-256" in wrong.json()["detail"]  # type: ignore[attr-defined]
    too_big = put(client, upload_id, 2, b"y" * (PART + 1))
    assert too_big.status_code == 413  # type: ignore[attr-defined]
    state = client.get(f"/v1/uploads/{upload_id}").json()
    assert [p["number"] for p in state["parts"]] == [1] and state["bytes_received"] == PART
    assert len(stored_parts()) == 1
    good = put(client, upload_id, 2, b"y" * 100, **{"x-part-sha256": hashlib.sha256(b"y" * 100).hexdigest()})
    assert good.status_code == 200  # type: ignore[attr-defined]


def test_completion_names_missing_parts_and_a_size_that_differs_from_the_declared(
    small_parts: None, client: TestClient
) -> None:
    upload_id = client.post("/v1/uploads", json={"filename": "a.zip", "bytes": 3 * PART}).json()["id"]
    assert client.post(f"/v1/uploads/{upload_id}/complete").status_code == 409
    put(client, upload_id, 1, b"a" * PART)
    put(client, upload_id, 3, b"c" * PART)
    gap = client.post(f"/v1/uploads/{upload_id}/complete")
    assert gap.status_code == 409 and "missing part(s) 2 of 1..3" in gap.json()["detail"]
    put(client, upload_id, 2, b"b" * 10)
    short = client.post(f"/v1/uploads/{upload_id}/complete")
    assert short.status_code == 409 and f"declared {3 * PART} bytes" in short.json()["detail"]
    put(client, upload_id, 2, b"b" * PART)
    assert client.post(f"/v1/uploads/{upload_id}/complete").json()["status"] == "completed"
    assert client.post(f"/v1/uploads/{upload_id}/complete").status_code == 200  # asking again is harmless
    late = put(client, upload_id, 4, b"d")
    assert late.status_code == 409 and "takes no more parts" in late.json()["detail"]  # type: ignore[attr-defined]


def test_limits_are_named_before_bytes_are_kept(small_parts: None, client: TestClient) -> None:
    huge = client.post("/v1/uploads", json={"filename": "a.zip", "bytes": 8 * PART + 1})
    assert huge.status_code == 413 and "SELFSUP_MAX_UPLOAD_BYTES" in huge.json()["detail"]
    upload_id = client.post("/v1/uploads", json={"filename": "a.zip"}).json()["id"]
    for number in range(1, 9):
        assert put(client, upload_id, number, b"z" * PART).status_code == 200  # type: ignore[attr-defined]
    over = put(client, upload_id, 9, b"z")
    assert over.status_code == 413 and "SELFSUP_MAX_UPLOAD_BYTES" in over.json()["detail"]  # type: ignore[attr-defined]
    assert len(stored_parts()) == 8
    for bad in ({"filename": "../etc/passwd"}, {"filename": "a.zip", "extra": 1}, {"filename": "a.zip", "bytes": 0}):
        assert client.post("/v1/uploads", json=bad).status_code == 422
    assert put(client, upload_id, 0, b"z").status_code == 422  # type: ignore[attr-defined]
    assert put(client, upload_id, 10_001, b"z").status_code == 422  # type: ignore[attr-defined]


def test_another_tenants_upload_looks_missing_and_stays_untouched(small_parts: None, client: TestClient) -> None:
    upload_id = client.post("/v1/uploads", json={"filename": "a.zip"}).json()["id"]
    put(client, upload_id, 1, b"mine")
    other = {"Authorization": f"Bearer {new_key(tenant='beta')}"}
    assert client.get(f"/v1/uploads/{upload_id}", headers=other).status_code == 404
    assert client.put(f"/v1/uploads/{upload_id}/parts/1", content=b"theirs", headers=other).status_code == 404
    assert client.post(f"/v1/uploads/{upload_id}/complete", headers=other).status_code == 404
    assert client.delete(f"/v1/uploads/{upload_id}", headers=other).status_code == 404
    assert client.get("/v1/uploads", headers=other).json()["total"] == 0
    assert stored_parts() == [b"mine"]
    assert client.delete(f"/v1/uploads/{upload_id}").status_code == 204
    assert stored_parts() == []
    assert client.get(f"/v1/uploads/{upload_id}").status_code == 404


def test_unfinished_uploads_count_as_stored_bytes_and_open_uploads_are_capped(
    monkeypatch: pytest.MonkeyPatch, small_parts: None, client: TestClient
) -> None:
    monkeypatch.setenv("SELFSUP_TENANT_MAX_STORED_BYTES", str(2 * PART))
    monkeypatch.setenv("SELFSUP_TENANT_MAX_OPEN_UPLOADS", "2")
    config.get_settings.cache_clear()
    first = client.post("/v1/uploads", json={"filename": "a.zip"}).json()["id"]
    assert client.post("/v1/uploads", json={"filename": "b.zip"}).status_code == 201
    capped = client.post("/v1/uploads", json={"filename": "c.zip"})
    assert capped.status_code == 429 and "unfinished uploads: 2" in capped.json()["detail"]
    assert put(client, first, 1, b"a" * PART).status_code == 200  # type: ignore[attr-defined]
    assert put(client, first, 2, b"a" * PART).status_code == 200  # type: ignore[attr-defined]
    full = put(client, first, 3, b"a")
    assert full.status_code == 429 and "uploads" in full.json()["detail"]  # type: ignore[attr-defined]
    assert client.get(f"/v1/uploads/{first}").json()["bytes_received"] == 2 * PART


def test_expired_uploads_are_forgotten_with_their_parts(small_parts: None, client: TestClient) -> None:
    stale = client.post("/v1/uploads", json={"filename": "a.zip"}).json()["id"]
    fresh = client.post("/v1/uploads", json={"filename": "b.zip"}).json()["id"]
    put(client, stale, 1, b"old")
    put(client, fresh, 1, b"new")
    with session_scope() as session:
        session.execute(
            update(ResumableUpload).where(ResumableUpload.id == stale).values(expires_at=ResumableUpload.created_at)
        )
    assert put(client, stale, 2, b"late").status_code == 404  # type: ignore[attr-defined]
    assert expire_unfinished_uploads(config.get_settings()) == [stale]
    assert stored_parts() == [b"new"]
    assert client.get(f"/v1/uploads/{stale}").status_code == 404
