"""``selfsup up``: the whole service on one machine with SQLite and the no-server broker, over HTTP."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.client import SelfSupClient
from tests.support.images import digit_pngs, digits_zip
from tests.support.processes import ServiceProcess, free_port, wait_until_healthy
from tests.support.text import docstring_corpus

pytestmark = pytest.mark.e2e


def test_selfsup_up_serves_the_whole_path_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "SELFSUP_DATA_DIR": str(tmp_path / "data"),
        "SELFSUP_PORT": str(port),
        "SELFSUP_PROGRESS_INTERVAL_SECONDS": "0.5",
    }
    up = ServiceProcess("up", env, tmp_path)
    children: list[int] = []
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", up, timeout=90)
        admin_key = (tmp_path / "data" / "admin-key.txt").read_text().strip()
        assert admin_key in up.log(), "the first admin key is printed once"
        client = SelfSupClient(f"http://127.0.0.1:{port}", admin_key, servers=[up])
        dataset = client.upload(digits_zip(100))
        job = client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 2, "batch_size": 25})
        done = client.wait_until(job["id"])
        assert done["status"] == "succeeded", done["error"]
        vectors = np.array(client.embed_json(done["model_id"], [d for _, d in digit_pngs(3)])["embeddings"])
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        text_vectors_of_a_text_job(client)
        ping = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "inspect", "ping", "--timeout=5"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "pong" in ping.stdout, "celery inspect works over the no-server broker's control folder"
        children = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(up.process.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
    finally:
        code = up.interrupt()
    assert code == 0, up.log()[-3000:]
    assert (tmp_path / "data" / "selfsup.db").is_file() and (tmp_path / "data" / "broker" / "control").is_dir()
    assert f"http://127.0.0.1:{port}" in up.log()
    assert "No hostname was supplied" not in up.log() and "superuser privileges" not in up.log(), "configured away"
    assert len(children) == 3, "one API, one training worker and one ingest worker process"
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "every child has exited"


def text_vectors_of_a_text_job(client: SelfSupClient) -> None:
    """A second modality on the same embedded service: a text corpus, a SimCSE job, /v1/embeddings."""
    corpus = "\n".join(docstring_corpus()[0][:128]).encode()
    dataset = client.upload_file(corpus, "docs.txt", modality="text", vocab_size="400", max_length="32")
    params = {"preset": "tiny", "epochs": 1, "batch_size": 32, "max_length": 32}
    done = client.wait_until(client.submit(dataset["id"], params, method="simcse")["id"])
    assert done["status"] == "succeeded", done["error"]
    body = {
        "model": done["model_id"],
        "input": ["Return the event loop.", "Parse a message."],
        "encoding_format": "float",
    }
    answer = client.http.post("/v1/embeddings", json=body).json()
    vectors = np.array([item["embedding"] for item in answer["data"]])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert answer["usage"]["prompt_tokens"] > 4
