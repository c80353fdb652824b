"""What a running service leaves on disk: no API key in its logs, nothing readable by other local users."""

import json
import secrets
import stat
from pathlib import Path

import httpx
import pytest

from app.auth.bootstrap import ADMIN_KEY_FILE
from app.core.access_log import ACCESS_LOGGER
from tests.e2e.client import SelfSupClient
from tests.support.images import digits_zip
from tests.support.processes import ServiceProcess, free_port, wait_for, wait_until_healthy

pytestmark = pytest.mark.e2e  # both tests start real service processes


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
        wait_for(
            lambda: len(_request_lines(api.log(), "/v1/datasets")) == len(queries),
            timeout=30,
            what="the three request lines in the access log",
        )
    finally:
        api.kill()
    log = api.log()
    assert key not in log and key.removeprefix("ssk_") not in log, log[-3000:]
    assert [line["status"] for line in _request_lines(log, "/v1/datasets")] == [401] * len(queries)


def _request_lines(log: str, route: str) -> list[dict[str, object]]:
    """The access log's JSON request lines for ``route``: they carry the route template, never the raw URL."""
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("logger") == ACCESS_LOGGER and line.get("route") == route]


def test_everything_under_the_data_dir_is_private_to_the_services_user(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)  # as an older install, or a hand-made folder, may have left it
    data_dir.chmod(0o755)  # mkdir's mode is narrowed by this test process's own umask
    port = free_port()
    env = {"SELFSUP_DATA_DIR": str(data_dir), "SELFSUP_PORT": str(port), "SELFSUP_PROGRESS_INTERVAL_SECONDS": "0.5"}
    up = ServiceProcess("up", env, tmp_path)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", up, timeout=90)
        client = SelfSupClient(f"http://127.0.0.1:{port}", (data_dir / ADMIN_KEY_FILE).read_text().strip())
        dataset = client.upload(digits_zip(32))
        done = client.wait_until(
            client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 16})["id"]
        )
        assert done["status"] == "succeeded", done["error"]
        modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in [data_dir, *data_dir.rglob("*")]}
    finally:
        up.interrupt()
    written = {"selfsup.db", ADMIN_KEY_FILE, "blobs/.staging", "broker/queue", "broker/control"} | {
        f"blobs/datasets/{dataset['id']}",
        "blobs/jobs",  # the job's own folder is gone: a succeeded job keeps only its encoder
        f"blobs/models/{done['model_id']}",
    }
    assert {f"data/{name}" for name in written} <= set(modes), sorted(modes)
    readable_by_others = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not readable_by_others, readable_by_others
