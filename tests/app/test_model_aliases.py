"""Model aliases: the migration on both databases, and PUT/DELETE/GET through the API, tenant by tenant."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from app.core.migrate import alembic_config, upgrade_to_head
from app.core.tables import metadata
from tests.conftest import new_key
from tests.support.jobs import train_image_model


def test_migration_builds_the_orms_table_and_undoes_it(fresh_database: str) -> None:
    upgrade_to_head(fresh_database)
    engine = create_engine(fresh_database)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert not [d for d in differences if "model_aliases" in repr(d)]
        command.downgrade(alembic_config(fresh_database), "0002")
        assert "model_aliases" not in inspect(engine).get_table_names()
        upgrade_to_head(fresh_database)
        assert "model_aliases" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def train_model(client: TestClient, *, seed: int = 0) -> str:
    return train_image_model(client, count=32, batch_size=16, seed=seed)


def aliases_of(client: TestClient, model_id: str) -> list[str]:
    return list(client.get(f"/v1/models/{model_id}").json()["aliases"])


def test_an_alias_is_created_moved_listed_and_deleted(client: TestClient) -> None:
    first, second = train_model(client), train_model(client, seed=1)
    created = client.put(f"/v1/models/{first}/alias", json={"alias": "digits"})
    assert created.status_code == 200 and created.json()["model_id"] == first and created.json()["alias"] == "digits"
    assert client.put(f"/v1/models/{first}/alias", json={"alias": "v1.0_a-b"}).status_code == 200
    assert aliases_of(client, first) == ["digits", "v1.0_a-b"] and aliases_of(client, second) == []
    moved = client.put(f"/v1/models/{second}/alias", json={"alias": "digits"})
    assert moved.status_code == 200 and moved.json()["model_id"] == second
    assert moved.json()["updated_at"] >= created.json()["updated_at"]
    assert aliases_of(client, first) == ["v1.0_a-b"] and aliases_of(client, second) == ["digits"]
    listed = {m["id"]: m["aliases"] for m in client.get("/v1/models").json()["items"]}
    assert listed == {first: ["v1.0_a-b"], second: ["digits"]}
    assert client.delete("/v1/aliases/digits").status_code == 204
    assert aliases_of(client, second) == []
    assert client.delete("/v1/aliases/digits").status_code == 404
    assert client.post("/v1/embeddings", json={"model": "digits", "input": "eA=="}).status_code == 404


@pytest.mark.parametrize("alias", ["", "has space", "a" * 101, "mdl_0123", "MDL_shadow", "slash/no", "ümlaut"])
def test_names_outside_the_pattern_or_like_a_model_id_are_422(client: TestClient, alias: str) -> None:
    model_id = train_model(client)
    response = client.put(f"/v1/models/{model_id}/alias", json={"alias": alias})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "alias"]
    assert aliases_of(client, model_id) == []


def test_dot_names_colons_and_leading_punctuation_are_422(client: TestClient) -> None:
    model_id = train_model(client)
    for alias in (".", "..", ":", "a:b", "-x", ".hidden", "_x", "a" * 100 + "b"):
        response = client.put(f"/v1/models/{model_id}/alias", json={"alias": alias})
        assert response.status_code == 422, (alias, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "alias"] and "[A-Za-z0-9][A-Za-z0-9._-]" in error["msg"], error
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "0.v_1-a"}).status_code == 200
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "a" * 100}).status_code == 200
    assert aliases_of(client, model_id) == ["0.v_1-a", "a" * 100]


def holding(client: TestClient, key: str) -> TestClient:
    """Another client of the same app, holding ``key``."""
    return TestClient(client.app, headers={"Authorization": f"Bearer {key}"})


def test_tenants_see_only_their_own_aliases_and_models(client: TestClient) -> None:
    model_id = train_model(client)
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "shared-name"}).status_code == 200
    outsider = holding(client, new_key(tenant="globex", scopes=("admin",)))
    assert outsider.put(f"/v1/models/{model_id}/alias", json={"alias": "x"}).status_code == 404
    assert outsider.delete("/v1/aliases/shared-name").status_code == 404
    assert aliases_of(client, model_id) == ["shared-name"]
    own = train_model(outsider)  # the same name, another model, in another tenant
    assert outsider.put(f"/v1/models/{own}/alias", json={"alias": "shared-name"}).json()["model_id"] == own
    assert aliases_of(client, model_id) == ["shared-name"] and aliases_of(outsider, own) == ["shared-name"]


def test_setting_or_deleting_an_alias_needs_the_write_scope(client: TestClient) -> None:
    model_id = train_model(client)
    reader = holding(client, new_key(scopes=("read",)))
    assert reader.put(f"/v1/models/{model_id}/alias", json={"alias": "a"}).status_code == 403
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "a"}).status_code == 200
    assert reader.delete("/v1/aliases/a").status_code == 403
    assert reader.get(f"/v1/models/{model_id}").json()["aliases"] == ["a"]
