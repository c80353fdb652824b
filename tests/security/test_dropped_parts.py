"""A resumable upload over a real socket: a part whose connection drops halfway is not kept, the parts already
recorded stay as they were, and the client resumes by sending that part again."""

import hashlib
import socket
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from app.core.db import session_factory
from app.quotas.orm import Upload
from tests.e2e.conftest import ADMIN_KEY
from tests.support.api_process import Api
from tests.support.processes import wait_for

PART = 64 * 1024


def upload_slots() -> int:
    with session_factory()() as session:
        return int(session.scalar(select(func.count()).select_from(Upload)) or 0)


def drop_mid_part(api: Api, upload_id: str, number: int, sent: bytes, declared: int) -> None:
    sock = socket.create_connection(("127.0.0.1", api.port))
    head = (
        f"PUT /v1/uploads/{upload_id}/parts/{number} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    sock.close()  # the client's network goes away halfway through the part


def test_a_part_cut_off_midway_is_not_kept_and_is_resent(start_api: Callable[..., Api]) -> None:
    api = start_api(SELFSUP_MAX_UPLOAD_PART_BYTES=str(PART))
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    body = bytes(range(256)) * (3 * PART // 256)
    parts = [body[i : i + PART] for i in range(0, len(body), PART)]
    with httpx.Client(base_url=api.url, headers=auth, timeout=60) as client:
        upload_id = client.post("/v1/uploads", json={"filename": "photos.tar", "bytes": len(body)}).json()["id"]
        assert client.put(f"/v1/uploads/{upload_id}/parts/1", content=parts[0]).status_code == 200
        drop_mid_part(api, upload_id, 2, parts[1][: PART // 3], declared=PART)
        wait_for(lambda: upload_slots() == 0, timeout=60, what="the cut-off part's upload slot to be freed")
        state = client.get(f"/v1/uploads/{upload_id}").json()
        assert [p["number"] for p in state["parts"]] == [1] and state["bytes_received"] == PART
        assert state["parts"][0]["sha256"] == hashlib.sha256(parts[0]).hexdigest()
        missing = {2, 3} - {p["number"] for p in state["parts"]}
        for number in sorted(missing):  # what a client does after reconnecting
            assert client.put(f"/v1/uploads/{upload_id}/parts/{number}", content=parts[number - 1]).status_code == 200
        done = client.post(f"/v1/uploads/{upload_id}/complete").json()
    assert done["status"] == "completed" and done["bytes_received"] == len(body)
    assert [p["sha256"] for p in done["parts"]] == [hashlib.sha256(p).hexdigest() for p in parts]
