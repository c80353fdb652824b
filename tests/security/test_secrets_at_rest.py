"""What a running service leaves on disk: no API key in its logs, nothing readable by other local users."""

import secrets
from pathlib import Path

import httpx

from tests.support.processes import ServiceProcess, free_port, wait_for, wait_until_healthy


def test_a_key_sent_in_the_query_string_never_reaches_the_access_log(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    key = f"ssk_{secrets.token_urlsafe(32)}"
    port = free_port()
    env = {**service_env, "SELFSUP_PORT": str(port), "SELFSUP_BOOTSTRAP_ADMIN_KEY": key}
    api = ServiceProcess("api", env, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, api)
        encoded = key.replace("ssk_", "ssk%5F")  # percent-encoding must not smuggle it past
        queries = (f"?api_key={key}", f"?limit=5&token={key}", f"?limit=5&anything={encoded}")
        for query in queries:
            assert httpx.get(f"{base}/v1/datasets{query}", timeout=30).status_code == 401, "refused, as before"
        lines = (
            '"GET /v1/datasets?api_key=[redacted] HTTP/1.1" 401',
            '"GET /v1/datasets?limit=5&token=[redacted] HTTP/1.1" 401',
            '"GET /v1/datasets?limit=5&anything=[redacted] HTTP/1.1" 401',
        )
        wait_for(
            lambda: api.log().count('"GET /v1/datasets?') == len(queries),
            timeout=30,
            what="the three request lines in the access log",
        )
    finally:
        api.kill()
    log = api.log()
    assert key not in log and key.removeprefix("ssk_") not in log, log[-3000:]
    assert all(line in log for line in lines), log[-3000:]
