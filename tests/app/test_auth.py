"""API keys, scopes and tenant isolation over HTTP, on PostgreSQL."""

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from app.auth.bootstrap import ADMIN_KEY_FILE, BOOTSTRAP_NAME, ensure_admin_key
from app.auth.orm import ApiKey
from app.auth.service import DEFAULT_TENANT, create_key
from app.core import db
from app.core.config import Settings, get_settings
from app.core.db import session_factory
from app.main import create_app
from tests.conftest import new_key
from tests.support import ingest
from tests.support.images import digit_pngs, digits_zip
from worker.training import run_job

V1_ROUTES = sorted(
    (method.upper(), path)
    for path, operations in create_app().openapi()["paths"].items()
    if path.startswith("/v1")
    for method in operations
)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer ssk_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz"])
def test_every_v1_route_needs_a_valid_key(anonymous: TestClient, method: str, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = anonymous.request(method, path.replace("{", "").replace("}", ""), headers=headers)
    assert response.status_code == 401, (method, path, response.text)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_probes_stay_open(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").status_code == 200


def test_scopes_nest_read_write_admin(anonymous: TestClient) -> None:
    read, write = bearer(new_key(scopes=("read",))), bearer(new_key(scopes=("write",)))
    upload = {"files": {"file": ("d.zip", digits_zip(4))}, "data": {"name": "d", "image_size": "16"}}
    assert anonymous.get("/v1/datasets", headers=read).status_code == 200
    denied = anonymous.post("/v1/datasets", headers=read, **upload)
    assert denied.status_code == 403 and "'write' scope" in denied.json()["detail"]
    assert ingest.upload(anonymous, headers=write, **upload)["status"] == "ready"
    assert anonymous.get("/v1/datasets", headers=write).json()["total"] == 1, "write includes read"
    assert anonymous.get("/v1/keys", headers=write).status_code == 403
    assert anonymous.post("/v1/keys", headers=write, json={"name": "x"}).status_code == 403


def test_keys_are_shown_once_stored_hashed_and_revocable(client: TestClient) -> None:
    client.headers["Authorization"] = f"Bearer {new_key(tenant='default', scopes=('operator',))}"
    created = client.post("/v1/keys", json={"name": "ci", "scopes": ["read"], "tenant": "other"})
    assert created.status_code == 201
    body = created.json()
    secret = body["key"]
    assert secret.startswith("ssk_") and body["prefix"] == secret[:12] and body["tenant"] == "other"
    listed = client.get("/v1/keys").json()["items"]
    assert secret not in str(listed) and {k["id"] for k in listed} >= {body["id"]}
    with session_factory()() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.id == body["id"]))
        assert row is not None and secret not in (row.secret_hash, row.prefix, row.name)
    assert client.get("/v1/datasets", headers=bearer(secret)).status_code == 200
    assert client.delete(f"/v1/keys/{body['id']}").status_code == 204
    assert client.get("/v1/datasets", headers=bearer(secret)).status_code == 401, "revocation is immediate"
    assert client.delete("/v1/keys/key_missing").status_code == 404
    bad = client.post("/v1/keys", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "scopes", 0]


def test_unknown_fields_of_a_new_key_are_422(client: TestClient) -> None:
    before = client.get("/v1/keys").json()["total"]
    for field, value in (("scope", ["read"]), ("tenants", ["other"]), ("expires", "never")):
        response = client.post("/v1/keys", json={"name": "ci", field: value})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", field], response.text
    assert client.get("/v1/keys").json()["total"] == before, "nothing was created"


def trained_model(client: TestClient) -> dict[str, Any]:
    files = {"file": ("d.zip", digits_zip(64))}
    dataset = ingest.upload_ready(client, files, {"name": "d", "image_size": "16"})
    params = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32}
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", "params": params}).json()
    assert run_job(job["id"], settings=get_settings(), worker_name="test") == "succeeded"
    return {"dataset": dataset, "job": client.get(f"/v1/jobs/{job['id']}").json()}


def test_tenants_never_see_each_other(client: TestClient) -> None:
    mine = trained_model(client)
    other = bearer(new_key(tenant="globex", scopes=("write",)))
    ds, job, model_id = mine["dataset"]["id"], mine["job"]["id"], mine["job"]["model_id"]
    for path in (f"/v1/datasets/{ds}", f"/v1/jobs/{job}", f"/v1/jobs/{job}/metrics", f"/v1/models/{model_id}"):
        assert client.get(path, headers=other).status_code == 404, path
    for path in ("/v1/datasets", "/v1/jobs", "/v1/models"):
        assert client.get(path, headers=other).json()["total"] == 0, path
        assert client.get(path).json()["total"] == 1, path
    assert client.delete(f"/v1/datasets/{ds}", headers=other).status_code == 404
    assert client.post(f"/v1/jobs/{job}/cancel", headers=other).status_code == 404
    stolen = client.post("/v1/jobs", headers=other, json={"dataset_id": ds, "method": "simclr"})
    assert stolen.status_code == 422 and "not found" in stolen.json()["detail"][0]["msg"]
    image = base64.b64encode(digit_pngs(1)[0][1]).decode()
    assert client.post(f"/v1/models/{model_id}/embed", headers=other, json={"inputs": [image]}).status_code == 404
    assert client.post(f"/v1/models/{model_id}/embed", json={"inputs": [image]}).status_code == 200


def test_first_start_generates_one_private_admin_key(service_env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=service_env["SELFSUP_DATABASE_URL"])
    secret = ensure_admin_key(settings)
    assert secret is not None and secret.startswith("ssk_")
    with session_factory()() as session:
        assert session.scalar(select(ApiKey.scopes)) == ["operator"], "the bootstrap key is the operator's"
    key_file = tmp_path / ADMIN_KEY_FILE
    assert key_file.read_text().strip() == secret
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert ensure_admin_key(settings) is None, "only when no key exists"


def test_a_configured_bootstrap_key_is_created_once(anonymous: TestClient, service_env: dict[str, str]) -> None:
    configured = "ssk_" + "b" * 40
    settings = Settings(database_url=service_env["SELFSUP_DATABASE_URL"], bootstrap_admin_key=configured)
    assert ensure_admin_key(settings) is None
    assert anonymous.get("/v1/keys", headers=bearer(configured)).status_code == 200
    [key] = anonymous.get("/v1/keys", headers=bearer(configured)).json()["items"]
    anonymous.delete(f"/v1/keys/{key['id']}", headers=bearer(configured))
    ensure_admin_key(settings)
    assert anonymous.get("/v1/keys", headers=bearer(configured)).status_code == 401, "a revocation sticks"


def test_an_older_generated_bootstrap_key_gains_the_operator_scope(service_env: dict[str, str], tmp_path: Path) -> None:
    # An older install generated its first key as a plain admin; a tenant may since have named a key the same.
    with session_factory()() as session:
        first = create_key(session, name=BOOTSTRAP_NAME, tenant=DEFAULT_TENANT, scopes=["admin"])[0].id
        later = create_key(session, name=BOOTSTRAP_NAME, tenant=DEFAULT_TENANT, scopes=["admin"])[0].id
    assert ensure_admin_key(Settings(data_dir=tmp_path, database_url=service_env["SELFSUP_DATABASE_URL"])) is None
    with session_factory()() as session:
        scopes = {key.id: key.scopes for key in session.scalars(select(ApiKey))}
    assert scopes == {first: ["operator"], later: ["admin"]}, "only the first key ever stored is the bootstrap key"


def test_create_key_operator_from_the_command_line(anonymous: TestClient, service_env: dict[str, str]) -> None:
    new_key(tenant="team-a", scopes=("read",))
    command = [sys.executable, "-m", "app.cli", "create-key", "--operator", "--name", "ops"]
    done = subprocess.run(command, env={**os.environ, **service_env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "scopes operator" in done.stdout, done.stdout + done.stderr
    operator = bearer(done.stdout.split()[0])
    assert anonymous.get("/v1/keys", headers=operator, params={"tenant": "team-a"}).json()["total"] == 1
    created = anonymous.post("/v1/keys", headers=operator, json={"name": "t", "tenant": "team-b", "scopes": ["admin"]})
    assert created.status_code == 201 and created.json()["tenant"] == "team-b"


def test_a_keyed_request_looks_its_key_up_once(client: TestClient) -> None:
    """The key gate's lookup (made before any body is read) is the one the route's scope check uses: at most one
    per request (none where the gate's lookup cache still holds the key)."""
    per_request: list[list[str]] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        per_request[-1].append(statement)

    engine = db.get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        per_request.append([])
        assert client.get("/v1/datasets").status_code == 200
        per_request.append([])
        assert client.post("/v1/jobs", json={"dataset_id": "ds_none", "method": "simclr"}).status_code == 422
    finally:
        event.remove(engine, "before_cursor_execute", record)
    for statements in per_request:
        assert sum("FROM api_keys" in statement for statement in statements) <= 1, statements
