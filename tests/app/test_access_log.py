"""The access-log filter: which parts of a request line are API keys, and that everything else is kept."""

import logging

import pytest

from app.core.access_log import REDACTED, RedactSecrets, redact, uvicorn_log_config

KEY = "ssk_" + "k" * 43


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"/v1/datasets?api_key={KEY}", f"/v1/datasets?api_key={REDACTED}"),
        (f"/v1/jobs?limit=5&token={KEY}&offset=2", f"/v1/jobs?limit=5&token={REDACTED}&offset=2"),
        ("/v1/jobs?limit=5&API_KEY=not-even-a-key", f"/v1/jobs?limit=5&API_KEY={REDACTED}"),
        (f"/v1/jobs?q={KEY.replace('ssk_', 'ssk%5F')}", f"/v1/jobs?q={REDACTED}"),
        (f"/v1/jobs?q={KEY.upper()}", f"/v1/jobs?q={REDACTED}"),
        (f"/v1/models/{KEY}/embed", f"/v1/models/{REDACTED}/embed"),
        ("/v1/jobs?status=running&limit=5", "/v1/jobs?status=running&limit=5"),
        ("/v1/keys?tenant=team-a", "/v1/keys?tenant=team-a"),
    ],
)
def test_keys_are_redacted_and_the_rest_is_kept(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_the_filter_rewrites_uvicorns_access_record_arguments() -> None:
    args = ("127.0.0.1:5000", "GET", f"/v1/datasets?api_key={KEY}", "1.1", 401)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == f'127.0.0.1:5000 - "GET /v1/datasets?api_key={REDACTED} HTTP/1.1" 401'


def test_every_uvicorn_handler_carries_the_filter() -> None:
    config = uvicorn_log_config()
    assert {name: handler["filters"] for name, handler in config["handlers"].items()} == {
        "default": ["redact_secrets"],
        "access": ["redact_secrets"],
        "json": ["redact_secrets"],
    }
    assert config["loggers"]["uvicorn.access"]["handlers"] == []  # our JSON request lines replace its lines
