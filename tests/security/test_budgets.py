"""Cheap requests that used to make the server do expensive work, against a real uvicorn API process.

Each test speaks raw HTTP where the attack lives below a client library (a body still being sent, a stalled
body, connections held open), and waits on behaviour: whether the server answered before the body was all
sent, whether /healthz answers while every worker thread is stuck, never on how fast anything was.
"""

import base64
import json
import select
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.main import create_app
from tests.conftest import reset_service_caches
from tests.e2e.conftest import ADMIN_KEY
from tests.support.jobs import train_image_model
from tests.support.processes import ServiceProcess, free_port, wait_for, wait_until_healthy

CHUNK = 64 * 1024
UNKNOWN_KEY = "ssk_" + "u" * 40


@dataclass
class Api:
    port: int
    process: ServiceProcess
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def start_api(service_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Only the API process (no worker: nothing here trains), with ``overrides`` on the test settings."""
    processes: list[ServiceProcess] = []

    def start(**overrides: str) -> Api:
        port = free_port()
        env = {**service_env, "SELFSUP_PORT": str(port), "SELFSUP_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY, **overrides}
        process = ServiceProcess("api", env, tmp_path)
        processes.append(process)
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        return Api(port, process, env)

    yield start
    for process in processes:
        process.kill()


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


def test_a_422_shows_the_first_errors_of_many_each_quoted_briefly() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from app.core.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/numbers")
    def numbers(values: list[int]) -> int:  # no cap: every bad item is an error of its own
        return len(values)

    response = TestClient(app).post("/numbers", json=["x" * 100_000] * 1000)
    assert response.status_code == 422 and len(response.content) < 16 * 1024, len(response.content)
    detail = response.json()["detail"]
    assert len(detail) == 21 and detail[-1]["msg"] == "and 980 more errors like these"  # the first 20, then a count
    assert detail[0]["loc"] == ["body", 0] and "(100000 long)" in detail[0]["input"]


def _png_data_url(side: int) -> str:
    from PIL import Image

    from tests.support.images import png_bytes

    return "data:image/png;base64," + base64.b64encode(png_bytes(Image.new("RGB", (side, side), "white"))).decode()


@pytest.fixture
def image_model(client: TestClient) -> str:
    return train_image_model(client)  # reads 16 px images


def test_an_image_far_larger_than_the_model_reads_is_refused_before_it_is_decoded(
    client: TestClient, image_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFSUP_EMBED_IMAGE_SCALE", "4")  # 16 px model: at most 64x64 pixels
    reset_service_caches()
    with TestClient(create_app(), headers=dict(client.headers)) as scaled:
        ok = scaled.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64)]})
        big = scaled.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64), _png_data_url(65)]})
        openai_big = scaled.post("/v1/embeddings", json={"model": image_model, "input": [_png_data_url(65)]})
    assert ok.status_code == 200, ok.text
    assert big.status_code == 422, big.text
    [error] = big.json()["detail"]
    assert error["loc"] == ["body", "inputs", 1] and "65x65" in error["msg"] and "limit of 4096 pixels" in error["msg"]
    assert openai_big.status_code == 400 and openai_big.json()["error"]["param"] == "input", openai_big.text


def test_a_request_over_its_pixel_budget_is_413_naming_the_limit(
    client: TestClient, image_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFSUP_EMBED_MAX_REQUEST_PIXELS", str(3 * 64 * 64))
    reset_service_caches()
    with TestClient(create_app(), headers=dict(client.headers)) as budgeted:
        three = budgeted.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64)] * 3})
        four = budgeted.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64)] * 4})
    assert three.status_code == 200, three.text
    assert four.status_code == 413 and "16384 pixels in all, over the limit of 12288" in four.text, four.text


def test_images_past_what_the_api_may_decode_at_once_get_503_with_retry_after(
    client: TestClient, image_model: str
) -> None:
    decoding = client.app.state.encoder_cache.images.decoding  # type: ignore[attr-defined]
    with decoding.reserve(decoding.limit):  # as if other requests were decoding all the API may
        refused = client.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(16)]})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1", refused.text
    assert "pixels being decoded" in refused.json()["detail"]
    assert decoding.in_progress == 0
    assert client.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(16)]}).status_code == 200


def test_a_huge_text_is_cut_before_it_is_tokenized(client: TestClient) -> None:
    from app.embeddings.service import EncoderCache
    from tests.support.jobs import run_through_worker
    from tests.support.text import docstring_corpus

    documents = docstring_corpus()[0][:120]
    lines = "\n".join(d.replace("\n", " ") for d in documents).encode()
    dataset = client.post(
        "/v1/datasets", files={"file": ("docs.txt", lines)}, data={"name": "t", "modality": "text", "max_length": "16"}
    ).json()
    model_id = run_through_worker(
        client, dataset["id"], "simcse", {"preset": "tiny", "epochs": 1, "batch_size": 32, "max_length": 16}
    )["model_id"]
    huge = "the quick brown fox jumps over the lazy dog " * 300_000  # 13 MB
    response = client.post(f"/v1/models/{model_id}/embed", json={"texts": [huge]})
    assert response.status_code == 200, response.text
    cache: EncoderCache = client.app.state.encoder_cache  # type: ignore[attr-defined]
    [served] = [entry for key, entry in cache._entries.items() if key == model_id]
    preprocessor = served.encoder.text_preprocessor
    assert preprocessor.max_chars == preprocessor.max_length * 101  # what the tokenizer is handed at most
    same = client.post(f"/v1/models/{model_id}/embed", json={"texts": [huge[: preprocessor.max_chars]]})
    assert response.json()["embeddings"] == same.json()["embeddings"]
