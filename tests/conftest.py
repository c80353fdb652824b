"""Fixtures for the service tests: settings pointing at real PostgreSQL and Redis, and a fresh schema."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import torch
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.core import config, db, queue
from app.core.migrate import upgrade_to_head
from app.core.tables import metadata
from tests.support.databases import REDIS_URL, temporary_postgres_database
from tests.support.s3 import AWS_ENV, ChildProcess, moto_server, new_bucket

# The tests train on tiny tensors, where a second intra-op thread costs more in synchronization than it saves,
# and the end-to-end tests' worker processes want the other core.
torch.set_num_threads(1)

# Fixtures that start real API or worker processes: a test that takes one is end-to-end, so that
# `-m "not e2e"` (the README's quick subset) leaves it out whether or not its module is marked.
PROCESS_FIXTURES = frozenset({"make_stack", "start_api"})


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def reset_service_caches() -> None:
    """Settings, engine, sessions and the Celery app are cached per process; tests change them."""
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    for cached in (config.get_settings, db.get_engine, db.session_factory, queue.get_celery):
        cached.cache_clear()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with temporary_postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, for migration tests (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        with temporary_postgres_database() as url:
            yield url


@pytest.fixture(scope="session")
def queue_name() -> str:
    """A queue of this test run's own, so concurrent runs on one Redis never take each other's messages."""
    return f"test-{secrets.token_hex(4)}"


@pytest.fixture
def service_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, postgres_url: str, queue_name: str
) -> Iterator[dict[str, str]]:
    """Environment for a service on PostgreSQL + Redis, with an emptied schema; applied here too."""
    env = {
        "SELFSUP_DATA_DIR": str(tmp_path / "data"),
        "SELFSUP_DATABASE_URL": postgres_url,
        "SELFSUP_BROKER_URL": REDIS_URL,
        "SELFSUP_QUEUE": queue_name,
        "SELFSUP_INGEST_QUEUE": f"{queue_name}-ingest",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_service_caches()
    with db.get_engine().begin() as connection:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    empty_queues(env)
    yield env
    empty_queues(env)
    reset_service_caches()


def empty_queues(env: dict[str, str]) -> None:
    """Drop the doorbells an earlier test left. Its rows are truncated, so each would only cost a worker a claim
    that finds nothing, and the worker forks a fresh child per message: 50 of them once delayed an end-to-end
    test by minutes."""
    redis.Redis.from_url(REDIS_URL).delete(env["SELFSUP_QUEUE"], env["SELFSUP_INGEST_QUEUE"])


def new_key(tenant: str = "acme", scopes: tuple[str, ...] = ("admin",)) -> str:
    """Store a real API key and return its secret (the same code path as POST /v1/keys)."""
    from app.auth.service import create_key

    with db.session_factory()() as session:
        return create_key(session, name="test", tenant=tenant, scopes=list(scopes))[1]


@pytest.fixture
def anonymous(service_env: dict[str, str]) -> Iterator[TestClient]:
    """A client that sends no key."""
    from app.main import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def client(anonymous: TestClient) -> TestClient:
    """A client holding an admin key of tenant 'acme'."""
    anonymous.headers["Authorization"] = f"Bearer {new_key()}"
    return anonymous


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChildProcess]:
    """moto's S3 server, one process for the whole run (tests take buckets of their own)."""
    server = moto_server(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_server: ChildProcess, service_env: dict[str, str]) -> dict[str, str]:
    """``service_env`` with blobs in a fresh bucket of the S3 server; applied here too."""
    env = {
        **AWS_ENV,
        "SELFSUP_STORAGE_URL": f"s3://{new_bucket(s3_server.url)}/selfsup",
        "SELFSUP_S3_ENDPOINT_URL": s3_server.url,
        "SELFSUP_S3_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_service_caches()
    return {**service_env, **env}
