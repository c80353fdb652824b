"""Cross-tenant key attacks against a real uvicorn API: a tenant's admin key manages its own tenant's keys and
nothing else; only the operator's bootstrap key reaches across tenants or mints operator keys."""

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core import db
from tests.conftest import new_key
from tests.support.processes import ServiceProcess, free_port, wait_until_healthy

pytestmark = pytest.mark.e2e  # every test here runs against a real API process


class Api:
    """A running ``selfsup api`` and the operator key it was started with."""

    def __init__(self, env: dict[str, str], log_dir: Path, operator_key: str) -> None:
        self.base_url = f"http://127.0.0.1:{env['SELFSUP_PORT']}"
        self.process = ServiceProcess("api", env, log_dir)
        wait_until_healthy(self.base_url, self.process)
        self.operator = self.client(operator_key)

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60, headers={"Authorization": f"Bearer {key}"})

    def new_key(self, tenant: str, scopes: list[str]) -> dict[str, Any]:
        response = self.operator.post("/v1/keys", json={"name": tenant, "tenant": tenant, "scopes": scopes})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def all_keys(self) -> list[dict[str, Any]]:
        return list(self.operator.get("/v1/keys", params={"limit": 100}).json()["items"])


def start_api(service_env: dict[str, str], tmp_path: Path, operator_key: str) -> Api:
    env = {**service_env, "SELFSUP_PORT": str(free_port()), "SELFSUP_BOOTSTRAP_ADMIN_KEY": operator_key}
    return Api(env, tmp_path, operator_key)


@pytest.fixture
def api(service_env: dict[str, str], tmp_path: Path) -> Iterator[Api]:
    running = start_api(service_env, tmp_path, f"ssk_{secrets.token_urlsafe(32)}")
    yield running
    running.process.kill()


def test_an_admin_cannot_create_keys_for_another_tenant_or_above_its_scopes(api: Api) -> None:
    team_a = api.client(api.new_key("team-a", ["admin"])["key"])
    before = api.all_keys()
    foreign = team_a.post("/v1/keys", json={"name": "x", "tenant": "team-b", "scopes": ["admin"]})
    assert foreign.status_code == 403 and "'operator' scope" in foreign.json()["detail"], foreign.text
    for scopes in (["operator"], ["read", "operator"]):
        escalated = team_a.post("/v1/keys", json={"name": "x", "scopes": scopes})
        assert escalated.status_code == 403 and "operator" in escalated.json()["detail"], escalated.text
    assert api.all_keys() == before, "a refused request stores nothing"
    own = team_a.post("/v1/keys", json={"name": "ci", "scopes": ["admin"]})
    assert own.status_code == 201 and own.json()["tenant"] == "team-a", own.text
    explicit = team_a.post("/v1/keys", json={"name": "ci", "tenant": "team-a", "scopes": ["read"]})
    assert explicit.status_code == 201 and explicit.json()["tenant"] == "team-a", explicit.text
    writer = api.client(api.new_key("team-a", ["write"])["key"])
    assert writer.post("/v1/keys", json={"name": "x", "scopes": ["read"]}).status_code == 403


def test_an_admin_lists_only_its_own_tenants_keys(api: Api) -> None:
    team_a_key = api.new_key("team-a", ["admin"])
    team_b_key = api.new_key("team-b", ["read"])
    team_a = api.client(team_a_key["key"])
    listed = team_a.get("/v1/keys", params={"limit": 100}).json()
    assert {k["id"] for k in listed["items"]} == {team_a_key["id"]} and listed["total"] == 1, listed
    assert team_b_key["id"] not in str(listed) and "operator" not in str(listed), "nor the bootstrap key"
    narrowed = team_a.get("/v1/keys", params={"tenant": "team-b"})
    assert narrowed.status_code == 403 and "'operator' scope" in narrowed.json()["detail"], narrowed.text
    assert team_a.get("/v1/keys", params={"tenant": "team-a"}).json()["total"] == 1


def test_an_admin_cannot_revoke_another_tenants_keys_or_the_operators(api: Api) -> None:
    team_a = api.client(api.new_key("team-a", ["admin"])["key"])
    team_b_key = api.new_key("team-b", ["admin"])
    [operator_key] = [k for k in api.all_keys() if "operator" in k["scopes"]]
    for key_id in (team_b_key["id"], operator_key["id"]):
        refused = team_a.delete(f"/v1/keys/{key_id}")
        assert refused.status_code == 404, refused.text
        missing = team_a.delete("/v1/keys/key_missing")
        assert refused.json()["detail"] == missing.json()["detail"].replace("key_missing", key_id), "looks missing"
    default_admin = api.client(api.new_key("default", ["admin"])["key"])
    locked_out = default_admin.delete(f"/v1/keys/{operator_key['id']}")
    assert locked_out.status_code == 403 and "operator" in locked_out.json()["detail"], locked_out.text
    assert api.client(team_b_key["key"]).get("/v1/keys").status_code == 200, "team-b's key still works"
    assert api.operator.get("/v1/keys").status_code == 200, "the operator's key still works"
    assert all(k["revoked_at"] is None for k in api.all_keys())


def test_the_operator_manages_every_tenant(api: Api) -> None:
    team_a_key, team_b_key = api.new_key("team-a", ["admin"]), api.new_key("team-b", ["read"])
    narrowed = api.operator.get("/v1/keys", params={"tenant": "team-b"}).json()
    assert [k["id"] for k in narrowed["items"]] == [team_b_key["id"]] and narrowed["total"] == 1
    assert api.operator.get("/v1/keys").json()["total"] == 3, "every tenant's, the bootstrap key too"
    second_operator = api.new_key("ops", ["operator"])
    assert api.client(second_operator["key"]).get("/v1/keys", params={"tenant": "team-a"}).json()["total"] == 1
    assert api.operator.delete(f"/v1/keys/{team_a_key['id']}").status_code == 204
    assert api.client(team_a_key["key"]).get("/v1/keys").status_code == 401, "revoked across tenants"


def test_an_older_installs_bootstrap_key_becomes_the_operators_on_start(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    # Before the operator scope existed, the bootstrap key was a plain admin key of the default tenant.
    from app.auth.service import create_key

    configured = f"ssk_{secrets.token_urlsafe(32)}"
    with db.session_factory()() as session:
        create_key(session, name="bootstrap admin", tenant="default", scopes=["admin"], secret=configured)
    tenant_admin = new_key(tenant="default", scopes=("admin",))
    api = start_api(service_env, tmp_path, configured)
    try:
        assert api.operator.get("/v1/keys", params={"tenant": "team-b"}).status_code == 200
        assert api.new_key("team-b", ["admin"])["tenant"] == "team-b"
        scopes = {k["name"]: k["scopes"] for k in api.all_keys()}
        assert scopes == {"bootstrap admin": ["operator"], "test": ["admin"], "team-b": ["admin"]}, scopes
        assert api.client(tenant_admin).get("/v1/keys", params={"tenant": "team-b"}).status_code == 403
    finally:
        api.process.kill()


def test_a_key_revoked_while_its_lookup_is_cached_is_refused_at_once(api: Api) -> None:
    key = api.new_key("team-c", ["read"])
    client = api.client(key["key"])
    assert client.get("/v1/models").status_code == 200  # the gate now holds this key's lookup
    assert api.operator.delete(f"/v1/keys/{key['id']}").status_code == 204
    assert client.get("/v1/models").status_code == 401
