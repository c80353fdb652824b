"""/metrics behind its token, parsed with Prometheus' own parser, and request log lines without secrets."""

import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.access_log import ACCESS_LOGGER, JsonLines
from tests.conftest import new_key, reset_service_caches

TOKEN = "scrape-" + "t" * 24


@pytest.fixture
def scraped(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("SELFSUP_METRICS_TOKEN", TOKEN)
    reset_service_caches()
    from app.main import create_app

    return TestClient(create_app())


def test_without_a_token_setting_only_loopback_clients_may_scrape(anonymous: TestClient) -> None:
    assert anonymous.get("/metrics").status_code == 403  # TestClient's peer is "testclient", not loopback


def test_metrics_need_the_token_and_count_requests_by_route_template(scraped: TestClient) -> None:
    assert scraped.get("/metrics").status_code == 401
    assert scraped.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    key = {"Authorization": f"Bearer {new_key()}"}
    assert scraped.get("/v1/jobs/job_missing", headers=key).status_code == 404
    assert scraped.get("/v1/jobs/job_refused").status_code == 401  # refused by the key gate, before routing
    response = scraped.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert {"selfsup_http_requests", "selfsup_jobs", "selfsup_embedding_queue_depth"} <= families.keys()
    assert {"selfsup_training_samples_per_second", "selfsup_training_data_wait_fraction"} <= families.keys()
    counted = {(s.labels["route"], s.labels["status"]) for s in families["selfsup_http_requests"].samples if s.labels}
    assert {("/v1/jobs/{job_id}", "404"), ("/v1/jobs/{job_id}", "401")} <= counted
    assert not any("job_missing" in route or "job_refused" in route for route, _ in counted)


def test_request_lines_carry_the_request_id_and_tenant_and_never_a_key(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = client.headers["Authorization"].removeprefix("Bearer ")
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        response = client.get(f"/v1/jobs?api_key={secret}&token=t0k", headers={"X-Request-ID": "trace-42"})
        client.get("/v1/jobs", headers={"X-Request-ID": secret})  # a key smuggled as an id is not echoed
    assert response.headers["x-request-id"] == "trace-42"
    lines = [JsonLines().format(record) for record in caplog.records if record.name == ACCESS_LOGGER]
    assert len(lines) == 2 and '"request_id": "trace-42"' in lines[0] and '"tenant": "acme"' in lines[0]
    assert '"route": "/v1/jobs"' in lines[0]
    assert not any(secret in line or "t0k" in line or "ssk_" in line for line in lines)
