"""Hostile and broken requests: bodies over their size limits, hostile JSON, paths and queries, each refused with
413 or 422 naming the problem, and nothing is stored. Hostile archives: tests/app/test_hostile_archives.py.
"""

import asyncio
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_key
from tests.support import ingest
from tests.support.hostile import ZEROS, assert_refused, detail_text
from tests.support.images import digits_zip
from tests.support.processes import ServiceProcess, free_port, wait_until_healthy

# --- request bodies over the limit ------------------------------------------------------------------------


def test_declared_oversize_upload_is_refused_before_a_byte_is_read(limited: TestClient, data_dir: Path) -> None:
    pulled: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            pulled.append(1)
            yield b"x" * 65536

    headers = {"Content-Length": str(10 * 1024**3), "Content-Type": "multipart/form-data; boundary=x"}
    response = limited.post("/v1/datasets", content=endless(), headers=headers)
    assert_refused(limited, data_dir, response, 413, f"{10 * 1024**3} bytes", "over the limit of 65536")
    assert pulled == [], "the body must not be read at all"


@pytest.mark.parametrize(
    ("method", "path", "content_type", "limit"),
    [
        ("POST", "/v1/datasets", "multipart/form-data; boundary=x", 65536),
        ("POST", "/v1/jobs", "application/json", 4096),
    ],
)
def test_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(
    limited_env: dict[str, str], method: str, path: str, content_type: str, limit: int
) -> None:
    """No Content-Length: the service counts chunks as they arrive and stops at the first one over the limit."""
    from app.main import create_app

    start = b'--x\r\nContent-Disposition: form-data; name="file"; filename="f.zip"\r\n\r\n'
    body = start + b"y" * (1000 * 1024 - len(start))
    chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)]  # 1000 chunks of 1 KiB
    status, pulled = asyncio.run(_send_chunked(create_app(), method, path, content_type, chunks))
    assert status == 413
    assert pulled == limit // 1024 + 1, "every chunk after the one that passed the limit stays unread"


async def _send_chunked(app: Any, method: str, path: str, content_type: str, chunks: list[bytes]) -> tuple[int, int]:
    pulled, statuses = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    headers = [(b"content-type", content_type.encode()), (b"authorization", f"Bearer {new_key()}".encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return statuses[0], pulled


def test_json_body_over_its_limit_is_413(limited: TestClient) -> None:
    body = {"dataset_id": "ds_x", "method": "simclr", "name": "x" * 5000}
    response = limited.post("/v1/jobs", json=body)
    assert response.status_code == 413 and "over the limit of 4096" in detail_text(response)
    assert limited.get("/v1/jobs").json()["total"] == 0


@pytest.mark.e2e  # a real uvicorn API process
def test_client_that_disconnects_mid_upload_leaves_nothing_behind(
    service_env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    port, admin = free_port(), f"ssk_{secrets.token_urlsafe(32)}"
    env = {**service_env, "SELFSUP_PORT": str(port), "SELFSUP_BOOTSTRAP_ADMIN_KEY": admin}
    api = ServiceProcess("api", env, tmp_path)
    try:
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {admin}"}
        wait_until_healthy(base, api, timeout=120)
        with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
            ingest.upload_ready(http, {"file": ("digits.zip", digits_zip(4))}, {"name": "d"})
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n\r\n' + ZEROS[:100_000]
        head = (
            f"POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {10 * 1024**2}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head.encode() + part)
            time.sleep(0.5)  # let the server take in what was sent, then hang up a tenth of the way in
        time.sleep(0.5)
        staging = data_dir / "blobs" / ".staging"
        assert not staging.exists() or list(staging.iterdir()) == []
        assert httpx.get(f"{base}/v1/datasets", headers=auth).json()["total"] == 1
        assert len(list((data_dir / "blobs" / "datasets").iterdir())) == 1
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert "Traceback" not in api.log()
    finally:
        api.kill()


# --- JSON bodies ------------------------------------------------------------------------------------------


HUGE_ARRAY = '{"name": "k", "scopes": [' + ", ".join(['"read"'] * 100_000) + "]}"
DEEP = '{"params": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
BIG_INT = '{"name": 1' + "0" * 5000 + "}"


def post_json(client: TestClient, path: str, text: str) -> httpx.Response:
    return client.post(path, content=text.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("path", "text", "status", "needles"),
    [
        ("/v1/jobs", '{"dataset_id": 5, "method": ["x"]}', 422, ["'dataset_id']: Input should be a valid string"]),
        ("/v1/keys", HUGE_ARRAY, 422, ["'scopes']: List should have at most 4 items"]),
        ("/v1/jobs", DEEP, 422, ["['body']: nested deeper than 64 levels"]),
        ("/v1/jobs", '{"dataset_id": "d", "method": "simclr", "params": {"lr": NaN}}', 422, ["NaN and Infinity"]),
        ("/v1/jobs", '{"dataset_id": "d", "method": "simclr", "params": {"lr": -Infinity}}', 422, ['"lr": -Inf']),
        ("/v1/keys", '{"name": Infinity}', 422, ["NaN and Infinity are not JSON numbers"]),
        ("/v1/keys", '{"name": 1e999}', 422, ["'name']: Input should be a valid string"]),  # parses to inf
        ("/v1/keys", BIG_INT, 422, ["['body']: cannot be parsed", "4300 digits"]),
        ("/v1/keys", '{"name": "\\ud800"}', 422, ["'name']: Input should be a valid string"]),
        ("/v1/keys", '{"name": "a\\u0000b"}', 422, ["cannot contain NUL"]),
    ],
    ids=["types", "huge-array", "deep", "nan", "-infinity", "infinity", "1e999", "5000-digits", "surrogate", "nul"],
)
def test_hostile_json_is_a_422_with_a_message(
    client: TestClient, path: str, text: str, status: int, needles: list[str]
) -> None:
    keys_before = len(client.get("/v1/keys").json()["items"])
    response = post_json(client, path, text)
    assert response.status_code == status, response.text
    for needle in needles:
        assert needle in detail_text(response), detail_text(response)
    assert client.get("/v1/jobs").json()["total"] == 0
    assert len(client.get("/v1/keys").json()["items"]) == keys_before


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/v1/jobs?offset=9223372036854775808", "less than or equal to 2147483647"),
        ("/v1/jobs/a%00b", "cannot contain NUL"),
        ("/v1/datasets?limit=1" + "0" * 5000, "exceeded maximum size"),
    ],
)
def test_hostile_paths_and_queries_are_422(client: TestClient, path: str, needle: str) -> None:
    response = client.get(path)
    assert response.status_code == 422 and needle in detail_text(response), response.text
