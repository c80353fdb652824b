"""Scaled out: hosts that share only PostgreSQL, Redis and an S3 bucket (a real moto server process).

Every process gets a data dir (and so a cache) of its own, as on separate machines: a dataset uploaded
through one API is trained by a worker that never saw the upload, resumed by another after the first is
killed, and served by a second API whose data dir holds none of the files.
"""

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.config import Settings
from app.core.storage import open_storage
from tests.e2e.client import SelfSupClient
from tests.e2e.conftest import ADMIN_KEY, Stack, StackFactory
from tests.support import s3
from tests.support.images import digit_pngs, digits_zip
from tests.support.processes import ServiceProcess, free_port, wait_for, wait_until_healthy
from tests.support.s3 import ChildProcess

pytestmark = pytest.mark.e2e
STEPS_PER_EPOCH = 192 // 32


def host(tmp_path: Path, name: str) -> dict[str, str]:
    """Settings that make a process a host of its own: its data dir, so its cache and blob folder."""
    return {"SELFSUP_DATA_DIR": str(tmp_path / name)}


def bucket_env(endpoint_url: str) -> dict[str, str]:
    return {
        **s3.AWS_ENV,
        "SELFSUP_STORAGE_URL": f"s3://{s3.new_bucket(endpoint_url)}/selfsup",
        "SELFSUP_S3_ENDPOINT_URL": endpoint_url,
        "SELFSUP_S3_REGION": "us-east-1",
    }


def stored(stack: Stack, moto: ChildProcess, prefix: str) -> list[str]:
    """The keys below ``prefix`` in the stack's bucket, read with the test's own client, from moto directly."""
    url = stack.env["SELFSUP_STORAGE_URL"]
    settings = Settings(storage_url=url, s3_endpoint_url=moto.url, s3_region="us-east-1")
    return [item.key for item in open_storage(settings).list(prefix)]


@pytest.fixture
def proxied_store(s3_server: ChildProcess, tmp_path: Path) -> Iterator[ChildProcess]:
    """A TCP proxy process in front of moto: stopping it is the store going away, with its state kept."""
    proxy = s3.tcp_proxy(s3_server.port, tmp_path)
    proxy.start()
    yield proxy
    proxy.stop()


def start_hosts(make_stack: StackFactory, tmp_path: Path, endpoint_url: str, **overrides: str) -> Stack:
    """An API host and one GPU host, each with a data dir of its own, on one bucket."""
    stack = make_stack(workers=0, **bucket_env(endpoint_url), **host(tmp_path, "api-host"), **overrides)
    stack.start_worker(**host(tmp_path, "gpu-host-1"))
    return stack


def wait_for_epochs(stack: Stack, job_id: str, epochs: int) -> None:
    wait_for(
        lambda: stack.client.job(job_id)["progress"]["epoch"] >= epochs,
        timeout=120,
        what=f"{epochs} epochs",
        interval=0.05,
        progress=stack.activity(job_id),
    )


def resumed_steps(stack: Stack, job_id: str, after_attempt: int) -> list[int]:
    points = stack.client.http.get(f"/v1/jobs/{job_id}/metrics", params={"limit": 2000}).json()["points"]
    return [p["step"] for p in points if p["attempt"] > after_attempt]


def embed_through_a_fresh_api(stack: Stack, tmp_path: Path, model_id: str) -> dict[str, object]:
    port = free_port()
    env = {**stack.env, **host(tmp_path, "serving-host"), "SELFSUP_PORT": str(port)}
    api = ServiceProcess("api", env, tmp_path)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", api)
        images = [base64.b64encode(png).decode() for _, png in digit_pngs(3)]
        serving = SelfSupClient(f"http://127.0.0.1:{port}", ADMIN_KEY)
        response = serving.http.post(f"/v1/models/{model_id}/embed", json={"inputs": images})
        assert response.status_code == 200, response.text
        return dict(response.json())
    finally:
        api.kill()


def test_a_job_moves_between_hosts_through_the_bucket(
    make_stack: StackFactory, s3_server: ChildProcess, tmp_path: Path
) -> None:
    stack = start_hosts(make_stack, tmp_path, s3_server.url)
    dataset = stack.client.upload(digits_zip(192))
    job = stack.client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 30, "batch_size": 32})
    wait_for_epochs(stack, job["id"], 2)
    stack.workers[0].kill()  # the first GPU host dies mid-epoch
    assert f"jobs/{job['id']}/checkpoint.pt" in stored(stack, s3_server, f"jobs/{job['id']}")

    stack.start_worker(**host(tmp_path, "gpu-host-2"))
    done = stack.client.wait_until(job["id"], timeout=180)
    assert done["status"] == "succeeded", done["error"] or stack.workers[1].log()[-3000:]
    assert done["attempts"] == 2
    steps = resumed_steps(stack, job["id"], after_attempt=1)
    assert steps and min(steps) > 2 * STEPS_PER_EPOCH - 1, "the second host continued from the stored checkpoint"

    for name in ("api-host", "gpu-host-1", "gpu-host-2"):
        assert not (tmp_path / name / "blobs").exists(), f"{name} kept no blobs of its own"
    assert any((tmp_path / "gpu-host-2" / "cache" / "entries").iterdir()), "the second host cached the dataset"
    assert stored(stack, s3_server, f"jobs/{job['id']}") == [], "the stored checkpoint went with success"

    served = embed_through_a_fresh_api(stack, tmp_path, done["model_id"])
    vectors = np.array(served["embeddings"])
    assert vectors.shape == (3, 128) and not (tmp_path / "serving-host" / "blobs").exists()
    images = [data for _, data in digit_pngs(3)]
    np.testing.assert_allclose(vectors, stack.client.embed_json(done["model_id"], images)["embeddings"], atol=1e-5)


def test_an_object_store_outage_mid_job_is_ridden_out_from_the_last_checkpoint(
    make_stack: StackFactory, s3_server: ChildProcess, proxied_store: ChildProcess, tmp_path: Path
) -> None:
    # Each attempt during the outage fails once boto3's retries are spent: room for the ones it uses up.
    stack = start_hosts(make_stack, tmp_path, proxied_store.url, SELFSUP_MAX_ATTEMPTS="20")
    dataset = stack.client.upload(digits_zip(192))
    job = stack.client.submit(dataset["id"], {"backbone": "tiny_cnn", "epochs": 12, "batch_size": 32})
    wait_for_epochs(stack, job["id"], 2)
    before = stored(stack, s3_server, f"datasets/{dataset['id']}")

    proxied_store.stop()  # the object store stops answering
    failed = wait_for(
        lambda: (j := stack.client.job(job["id"]))["error"] and "object store" in j["error"] and j,
        timeout=120,
        what="an attempt to fail on the object store",
        progress=stack.activity(job["id"]),
    )
    assert f"at {proxied_store.url}" in failed["error"], "the message names the object store"
    assert failed["status"] in ("queued", "running"), "the job is retried, not failed"
    proxied_store.start()  # and comes back

    done = stack.client.wait_until(job["id"], timeout=180)
    assert done["status"] == "succeeded", done["error"] or stack.workers[0].log()[-3000:]
    steps = resumed_steps(stack, job["id"], after_attempt=1)
    assert steps and min(steps) > 2 * STEPS_PER_EPOCH - 1, "training resumed from the last stored checkpoint"
    assert stored(stack, s3_server, f"datasets/{dataset['id']}") == before, "nothing stored was lost"
    assert stored(stack, s3_server, f"models/{done['model_id']}") == [f"models/{done['model_id']}/encoder.pt"]
