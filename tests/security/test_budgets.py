"""Cheap requests that used to make the server do expensive work, against a real uvicorn API process.

Each test speaks raw HTTP where the attack lives below a client library (a body still being sent, a stalled
body, connections held open), and waits on behaviour: whether the server answered before the body was all
sent, whether /healthz answers while every worker thread is stuck, never on how fast anything was.
"""

import json
import select
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import ADMIN_KEY
from tests.support.api_process import Api
from tests.support.processes import wait_for

CHUNK = 64 * 1024
UNKNOWN_KEY = "ssk_" + "u" * 40


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def _read_response(sock: socket.socket, timeout: float = 60) -> bytes:
    """Everything the server sends until it closes the connection (or, with keep-alive, until it goes quiet)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and _complete(data):
                break
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _json_body(response: bytes) -> dict:
    return json.loads(response.partition(b"\r\n\r\n")[2])


def send_until_answered(port: int, head: bytes, body: Iterable[bytes]) -> tuple[bytes, bool]:
    """Send ``head``, then ``body`` piece by piece, stopping as soon as the server answers.

    Returns the response and whether the whole body had to be sent first."""
    sock = socket.create_connection(("127.0.0.1", port))
    finished = True
    try:
        sock.sendall(head)
        for piece in body:
            if _readable(sock):
                finished = False
                break
            sock.sendall(piece)
    except (BrokenPipeError, ConnectionResetError):
        finished = False
    try:
        return _read_response(sock), finished
    finally:
        sock.close()


def _chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def _upload_pieces(total: int) -> Iterator[bytes]:
    yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n\r\n'
    for _ in range(total // CHUNK):
        yield b"\0" * CHUNK
    yield b'\r\n--B\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n--B--\r\n'


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


@pytest.mark.parametrize("key", [None, UNKNOWN_KEY], ids=["no-key", "unknown-key"])
def test_an_upload_without_a_valid_key_is_401_before_its_body_is_read(
    start_api: Callable[..., Api], tmp_path: Path, key: str | None
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    api = start_api(TMPDIR=str(spool))  # where python-multipart would spool the upload's file part
    authorization = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST /v1/datasets HTTP/1.1\r\nHost: test\r\n{authorization}Transfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=B\r\n\r\n"
    ).encode()
    response, finished = send_until_answered(api.port, head, _chunked(_upload_pieces(256 * 1024**2)))
    assert _status(response) == 401, response[:500]
    assert not finished  # answered while the 256 MiB were still being sent
    expected = "missing API key" if key is None else "invalid or revoked API key"
    assert expected in _json_body(response)["detail"]
    assert _files_under(spool) == [] and _files_under(Path(api.env["SELFSUP_DATA_DIR"]) / "blobs") == []


def test_an_openai_request_without_a_key_is_401_in_openais_shape_before_its_body_is_read(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()
    size = 48 * 1024**2  # under SELFSUP_MAX_JSON_BYTES, so only the key can refuse it early
    prefix = b'{"model": "m", "input": "'
    head = (
        f"POST /v1/embeddings HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    pieces = [prefix, *[b"a" * CHUNK] * ((size - len(prefix) - 2) // CHUNK)]
    response, finished = send_until_answered(api.port, head, pieces)
    assert _status(response) == 401 and not finished, response[:500]
    assert _json_body(response)["error"]["code"] == "invalid_api_key"


def test_a_stalled_body_is_408_and_its_connection_closed(start_api: Callable[..., Api]) -> None:
    api = start_api(SELFSUP_BODY_READ_TIMEOUT_SECONDS="1")
    sock = socket.create_connection(("127.0.0.1", api.port))
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"dataset_id": "')  # ... and then nothing more
    response = _read_response(sock)
    assert _status(response) == 408, response[:500]
    assert "stalled" in _json_body(response)["detail"]
    sock.settimeout(60)
    assert sock.recv(1) == b""  # the server closed the connection
    sock.close()


def test_connections_past_the_cap_get_503_and_the_server_recovers(start_api: Callable[..., Api]) -> None:
    api = start_api(SELFSUP_MAX_CONNECTIONS="4", SELFSUP_BODY_READ_TIMEOUT_SECONDS="600")
    slow = []
    for _ in range(3):  # with the probe's own connection, the cap of 4 is reached
        sock = socket.create_connection(("127.0.0.1", api.port))
        head = (
            f"POST /v1/jobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        sock.sendall(head.encode())
        slow.append(sock)

    def refused() -> bool:
        return httpx.get(f"{api.url}/healthz", timeout=60).status_code == 503

    wait_for(refused, timeout=60, what="a request past the connection cap to get 503")
    for sock in slow:
        sock.close()

    def healthy() -> bool:
        return httpx.get(f"{api.url}/healthz", timeout=60).status_code == 200

    wait_for(healthy, timeout=60, what="the server to answer again once the slow connections closed")


def test_healthz_answers_while_every_worker_thread_is_stuck(
    start_api: Callable[..., Api], service_env: dict[str, str]
) -> None:
    api = start_api()
    engine = create_engine(service_env["SELFSUP_DATABASE_URL"])
    pool_connections = 30  # app.core.db: pool_size 10 + max_overflow 20
    threads = 40  # anyio's default thread limiter: the API's sync routes and key checks share it
    with engine.connect() as lock, ThreadPoolExecutor(threads + 10) as pool:
        lock.execute(text("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE"))  # every key check now blocks
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        stuck: list[Future[httpx.Response]] = [
            pool.submit(httpx.get, f"{api.url}/v1/methods", headers=headers, timeout=300) for _ in range(threads + 10)
        ]

        def waiting_on_the_lock() -> int:
            query = text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            with engine.connect() as probe:
                return int(probe.scalar(query) or 0)

        # Every pooled connection blocked: the other requests' threads wait on the pool, the rest for a thread.
        wait_for(
            lambda: waiting_on_the_lock() >= pool_connections,
            timeout=60,
            what="the key checks to block on the lock",
            progress=waiting_on_the_lock,
        )
        health = httpx.get(f"{api.url}/healthz", timeout=300)
        in_progress = sum(not future.done() for future in stuck)
        lock.rollback()  # release the lock
        answers = [future.result(timeout=300) for future in stuck]
    assert health.status_code == 200 and in_progress == len(stuck)  # it answered while all were still stuck
    assert all(answer.status_code == 200 for answer in answers)
    engine.dispose()


def test_validation_errors_do_not_echo_large_inputs(start_api: Callable[..., Api]) -> None:
    api = start_api(SELFSUP_MAX_API_JSON_BYTES=str(4 * 1024**2))
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    long_string = {"dataset_id": "ds_x", "method": "simclr", "params": "x" * 3_000_000}
    many_errors = {"name": "k", "scopes": ["nonsense"] * 300_000}  # refused as too long, quoting the list
    for path, body, loc in (("/v1/jobs", long_string, "params"), ("/v1/keys", many_errors, "scopes")):
        response = httpx.post(f"{api.url}{path}", json=body, headers=headers, timeout=300)
        assert response.status_code == 422, response.text[:500]
        assert len(response.content) < 16 * 1024, len(response.content)  # it quoted 3 MB back before
        detail = response.json()["detail"]
        assert detail[0]["loc"][:2] == ["body", loc] and detail[0]["msg"]
    too_many_params = {"dataset_id": "ds_x", "method": "simclr", "params": {f"p{i}": i for i in range(1000)}}
    response = httpx.post(f"{api.url}/v1/jobs", json=too_many_params, headers=headers, timeout=300)
    assert response.status_code == 422 and "at most 100" in response.text, response.text[:500]


def test_only_embedding_routes_take_large_json_bodies(start_api: Callable[..., Api]) -> None:
    """A 36 MB body to /v1/jobs held the event loop (and /healthz) for over a second while it was parsed, and a
    thread does not help: json and pydantic hold the GIL. Routes whose bodies are small refuse large ones."""
    api = start_api()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    body = json.dumps({"dataset_id": "ds_x", "method": "simclr", "params": {"x": [1] * 1_000_000}})
    for method, path in (("POST", "/v1/jobs"), ("POST", "/v1/keys"), ("PUT", "/v1/models/mdl_x/alias")):
        response = httpx.request(method, f"{api.url}{path}", content=body, headers=headers, timeout=300)
        assert response.status_code == 413 and "limit of 1048576 bytes" in response.text, (path, response.text)
    for path in ("/v1/embeddings", "/v1/models/mdl_x/embed"):
        response = httpx.post(f"{api.url}{path}", content=body, headers=headers, timeout=300)
        assert response.status_code not in (413, 500), (path, response.text)  # read, then refused for its content
