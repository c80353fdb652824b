"""Hostile and broken input: every threat is refused with 413 or 422 naming the problem, and nothing is stored.

The service runs on PostgreSQL with small limits, so that each bomb fits in a few kilobytes.
"""

import asyncio
import gzip
import io
import secrets
import socket
import stat
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import new_key, reset_service_caches
from tests.support import ingest
from tests.support.images import FIXED_ZIP_TIME, digit_pngs, digits_zip, png_bytes, tar_bytes, zip_bytes
from tests.support.processes import ServiceProcess, free_port, wait_until_healthy

LIMITS = {
    "SELFSUP_MAX_UPLOAD_BYTES": "65536",
    "SELFSUP_MAX_JSON_BYTES": "4096",
    "SELFSUP_MAX_ARCHIVE_MEMBERS": "40",
    "SELFSUP_MAX_EXTRACTED_BYTES": "200000",
    "SELFSUP_MAX_MEMBER_BYTES": "20000",
    "SELFSUP_MAX_IMAGE_PIXELS": "10000",
}
ZEROS = b"\0" * 300_000  # deflates to a few hundred bytes


@pytest.fixture
def limited_env(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)
    reset_service_caches()
    return {**service_env, **LIMITS}


@pytest.fixture
def limited(limited_env: dict[str, str]) -> Iterator[TestClient]:
    """An admin client of a service with small limits, holding one dataset that every refusal must leave alone."""
    from app.main import create_app

    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {new_key()}"
        ingest.upload_ready(client, {"file": ("digits.zip", digits_zip(4))}, {"name": "d", "image_size": "8"})
        yield client


@pytest.fixture
def data_dir(service_env: dict[str, str]) -> Path:
    return Path(service_env["SELFSUP_DATA_DIR"])


def upload(client: TestClient, data: bytes, filename: str = "digits.zip") -> httpx.Response:
    return client.post("/v1/datasets", files={"file": (filename, data)}, data={"name": "d", "image_size": "8"})


def detail_text(response: httpx.Response) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " | ".join(f"{e['loc']}: {e['msg']}" for e in detail)


FAILED = 0  # the upload is accepted (202), and its ingest fails the dataset


def assert_refused(client: TestClient, data_dir: Path, response: httpx.Response, status: int, *needles: str) -> None:
    """The status (or, for ``FAILED``, a dataset whose ingest failed), a message naming each needle, and storage
    exactly as the one earlier upload left it."""
    if status == FAILED:
        assert response.status_code == 202, response.text
        ingest.ingest_pending()
        dataset = client.get(f"/v1/datasets/{response.json()['id']}").json()
        assert dataset["status"] == "failed", dataset
        text = dataset["error"]
    else:
        assert response.status_code == status, response.text
        text = detail_text(response)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    staging = data_dir / "blobs" / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == [], "a half-written upload was left behind"
    assert len(list((data_dir / "blobs" / "datasets").iterdir())) == 1, "the earlier dataset must stay, alone"
    uploads = data_dir / "blobs" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == [], "an upload outlived its ingest"
    assert [d["status"] for d in client.get("/v1/datasets").json()["items"]].count("ready") == 1


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


# --- archives ---------------------------------------------------------------------------------------------


def zip_declaring(name: str, data: bytes, declared_size: int) -> bytes:
    """A one-member zip whose headers state ``declared_size`` as the unpacked size, whatever ``data`` is."""
    raw = bytearray(zip_bytes([(name, data)]))
    struct.pack_into("<L", raw, raw.find(b"PK\x03\x04") + 22, declared_size)
    struct.pack_into("<L", raw, raw.find(b"PK\x01\x02") + 24, declared_size)
    return bytes(raw)


@pytest.mark.parametrize(
    ("payload", "filename", "status", "needles"),
    [
        (zip_bytes([("bomb.png", ZEROS)]), "bomb.zip", FAILED, ["bomb.zip", "unpacks to more than 200000 bytes"]),
        (tar_bytes([("bomb.png", ZEROS)]), "bomb.tar.gz", FAILED, ["bomb.tar.gz", "unpacks to more than 200000"]),
        (zip_bytes([("big.png", ZEROS[:30000])]), "big.zip", FAILED, ["big.png", "over the limit of 20000"]),
        (tar_bytes([("big.png", ZEROS[:30000])]), "big.tar.gz", FAILED, ["big.png", "over the limit of 20000"]),
        (zip_declaring("huge.png", b"x", 0xFFFFFFF0), "huge.zip", FAILED, ["huge.zip", "unpacks to more than"]),
        (zip_bytes([(f"{i}.png", b"x") for i in range(41)]), "many.zip", FAILED, ["many.zip", "more than 40 entries"]),
        (tar_bytes([(f"{i}.png", b"x") for i in range(41)]), "many.tgz", FAILED, ["many.tgz", "more than 40 entries"]),
        # The header says 100 bytes; the data inflates to 300 KB. Only 100 are read, and they fail the checksum.
        (zip_declaring("liar.png", ZEROS, 100), "liar.zip", FAILED, ["liar.png", "cannot be read", "CRC"]),
    ],
    ids=["zip-total", "tgz-total", "zip-member", "tgz-member", "zip-declared", "zip-count", "tgz-count", "zip-liar"],
)
def test_archive_bombs_are_refused(
    limited: TestClient, data_dir: Path, payload: bytes, filename: str, status: int, needles: list[str]
) -> None:
    assert_refused(limited, data_dir, upload(limited, payload, filename), status, *needles)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb's first step."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        (png_claiming(50_000, 50_000), "too large to decode safely"),  # Pillow's own DecompressionBombError
        (png_bytes(Image.new("L", (200, 200))), "200x200 pixels, over the limit of 10000"),  # our setting
    ],
    ids=["pillow-bomb", "over-setting"],
)
def test_image_decompression_bombs_are_refused(limited: TestClient, data_dir: Path, image: bytes, needle: str) -> None:
    payload = zip_bytes([*digit_pngs(2), ("bomb.png", image)])
    assert_refused(limited, data_dir, upload(limited, payload), FAILED, "bomb.png", needle)


def tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        name, png = digit_pngs(1)[0]
        first = tarfile.TarInfo(name)
        first.size = len(png)
        archive.addfile(first, io.BytesIO(png))
        archive.addfile(info, io.BytesIO(data) if data else None)
    return gzip.compress(buffer.getvalue(), mtime=0)  # no clock in the bytes: every xdist worker collects the same


def tar_link(name: str, kind: bytes, target: str) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return tar_with(info)


def zip_symlink(name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        first, png = digit_pngs(1)[0]
        archive.writestr(zipfile.ZipInfo(first, date_time=FIXED_ZIP_TIME), png)
        info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
        info.create_system = 3  # unix: the upper 16 bits of external_attr are the file's mode
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def tar_file(name: str) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 3
    return tar_with(info, b"abc")


@pytest.mark.parametrize(
    ("payload", "filename", "needles"),
    [
        (zip_bytes([("/etc/cron.png", b"x")]), "abs.zip", ["'/etc/cron.png' points outside the archive"]),
        (tar_file("/etc/cron.png"), "abs.tgz", ["'/etc/cron.png' points outside the archive"]),
        (tar_file("a/../../up.png"), "up.tgz", ["'a/../../up.png' points outside the archive"]),
        (tar_link("x.png", tarfile.SYMTYPE, "/etc/passwd"), "sym.tgz", ["'x.png' is a link"]),
        (tar_link("x.png", tarfile.LNKTYPE, "/etc/passwd"), "hard.tgz", ["'x.png' is a link"]),
        (zip_symlink("x.png", "/etc/passwd"), "sym.zip", ["sym.zip", "'x.png' is a symbolic link"]),
    ],
    ids=["zip-absolute", "tar-absolute", "tar-dotdot", "tar-symlink", "tar-hardlink", "zip-symlink"],
)
def test_escaping_paths_and_links_are_refused(
    limited: TestClient, data_dir: Path, payload: bytes, filename: str, needles: list[str]
) -> None:
    assert_refused(limited, data_dir, upload(limited, payload, filename), FAILED, filename, *needles)


@pytest.mark.parametrize(
    ("archive", "filename", "needle"),
    [
        (zip_bytes(digit_pngs(20)), "cut.zip", "damaged or truncated zip archive"),
        (tar_bytes(digit_pngs(20)), "cut.tar.gz", "damaged or truncated archive"),
        (tar_bytes(digit_pngs(20), mode="w"), "cut.tar", "damaged or truncated archive"),
    ],
    ids=["zip", "tar.gz", "tar"],
)
def test_truncated_archives_are_refused_naming_the_file(
    limited: TestClient, data_dir: Path, archive: bytes, filename: str, needle: str
) -> None:
    response = upload(limited, archive[: len(archive) // 2], filename)
    assert_refused(limited, data_dir, response, FAILED, filename, needle)


def jpeg_bytes() -> bytes:
    return png_bytes(Image.new("RGB", (24, 24), (200, 30, 30)), "JPEG")


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("photo.jpg", png_bytes(Image.new("L", (24, 24))), "the content is a PNG image, but the name says JPEG"),
        ("photo.png", jpeg_bytes(), "the content is a JPEG image, but the name says PNG"),
        ("photo.webp", jpeg_bytes(), "the content is a JPEG image, but the name says WEBP"),
    ],
    ids=["png-as-jpg", "jpeg-as-png", "jpeg-as-webp"],
)
def test_content_that_does_not_match_its_extension_is_refused(
    limited: TestClient, data_dir: Path, name: str, data: bytes, needle: str
) -> None:
    response = upload(limited, zip_bytes([*digit_pngs(2), (f"x/{name}", data)]))
    assert_refused(limited, data_dir, response, FAILED, f"x/{name}: {needle}")


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
