"""The embedding route under load: the batcher on its own, then the real uvicorn server with many clients."""

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.embeddings.batching import BatchLimits, EmbeddingBatcher, Saturated
from bench.serve_load import run_load
from selfsup.backbones import create_backbone
from selfsup.encoder import Encoder
from tests.support import ingest
from tests.support.images import digits_zip
from tests.support.processes import ServiceProcess, free_port, wait_for, wait_until_healthy
from worker.training import run_job

ADMIN_KEY = "ssk_" + "load" * 9
TOLERANCE = 1e-5  # batch composition may change the last float32 bits (see app/embeddings/batching.py)


class GatedEncoder:
    """A real tiny encoder that records each batch's size and, while the gate is shut, holds batches back."""

    def __init__(self) -> None:
        self.encoder = Encoder(create_backbone("tiny_cnn", image_size=16), method="simclr")
        self.batches: list[int] = []
        self.started = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def embed(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(len(images))
        self.started.set()
        assert self.gate.wait(timeout=30)
        return self.encoder.embed(images)

    def hold_first_batch(self, batcher: EmbeddingBatcher) -> Future[np.ndarray]:
        """Shut the gate and start a one-image batch, so that what is submitted next waits in the queue."""
        self.gate.clear()
        future = batcher.submit(images(1, seed=99))
        assert self.started.wait(timeout=10)
        return future


def images(count: int, *, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)


def batcher_for(
    encoder: GatedEncoder, *, max_batch: int = 64, max_wait: float = 0.002, limit: int = 512
) -> EmbeddingBatcher:
    limits = BatchLimits(max_batch=max_batch, max_wait=max_wait, queue_limit=limit)
    return EmbeddingBatcher(encoder.embed, limits=limits, name="test")


def test_each_request_gets_its_own_rows_in_input_order() -> None:
    encoder = GatedEncoder()
    batcher = batcher_for(encoder)
    first = encoder.hold_first_batch(batcher)
    requests = [images(count, seed=seed) for seed, count in enumerate([1, 3, 2, 4, 1, 2])]
    futures = [batcher.submit(request) for request in requests]
    encoder.gate.set()
    assert first.result(timeout=10).shape == (1, 128)
    for request, future in zip(requests, futures, strict=True):
        np.testing.assert_allclose(future.result(timeout=10), encoder.encoder.embed(request), atol=TOLERANCE)
    assert encoder.batches == [1, 13], "the six queued requests ran as one batch"


def test_concurrent_callers_are_gathered_into_fewer_encoder_calls() -> None:
    encoder = GatedEncoder()
    batcher = batcher_for(encoder, max_wait=0.2)
    start = threading.Barrier(16)
    results: dict[int, np.ndarray] = {}

    def call(index: int) -> None:
        start.wait()
        results[index] = batcher.submit(images(2, seed=index)).result(timeout=30)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(encoder.batches) == 32 and len(encoder.batches) < 16
    for index, vectors in results.items():
        np.testing.assert_allclose(vectors, encoder.encoder.embed(images(2, seed=index)), atol=TOLERANCE)


def test_a_batch_holds_at_most_max_batch_images_but_a_large_request_runs_whole() -> None:
    encoder = GatedEncoder()
    batcher = batcher_for(encoder, max_batch=8)
    encoder.hold_first_batch(batcher)
    futures = [batcher.submit(images(3, seed=i)) for i in range(5)] + [batcher.submit(images(11, seed=5))]
    encoder.gate.set()
    assert [f.result(timeout=10).shape[0] for f in futures] == [3, 3, 3, 3, 3, 11]
    assert encoder.batches == [1, 6, 6, 3, 11]


def test_admission_refuses_beyond_the_queue_limit_at_once_and_recovers() -> None:
    encoder = GatedEncoder()
    batcher = batcher_for(encoder, limit=4)
    running = encoder.hold_first_batch(batcher)
    queued = batcher.submit(images(3, seed=1))  # 1 being encoded + 3 waiting = the limit
    with pytest.raises(Saturated) as refused:
        batcher.submit(images(1, seed=2))
    assert refused.value.status_code == 503 and "saturated" in refused.value.message
    assert refused.value.headers is not None and int(refused.value.headers["Retry-After"]) >= 1
    with pytest.raises(Saturated):
        batcher.check_room(1)
    encoder.gate.set()
    assert running.result(timeout=10).shape == (1, 128) and queued.result(timeout=10).shape == (3, 128)
    assert batcher.submit(images(4, seed=3)).result(timeout=10).shape == (4, 128), "room again once answered"
    assert encoder.batches == [1, 3, 4]


def test_an_idle_model_admits_a_request_larger_than_its_limit() -> None:
    batcher = batcher_for(GatedEncoder(), limit=4)
    assert batcher.submit(images(6, seed=0)).result(timeout=10).shape == (6, 128)


def test_a_cancelled_request_is_never_encoded_and_its_room_comes_back() -> None:
    encoder = GatedEncoder()
    batcher = batcher_for(encoder, limit=4)
    running = encoder.hold_first_batch(batcher)
    abandoned = batcher.submit(images(3, seed=1))
    assert abandoned.cancel()
    encoder.gate.set()
    running.result(timeout=10)
    wait_for(lambda: has_room(batcher, 4), timeout=10, what="the cancelled request's room")
    assert batcher.submit(images(4, seed=2)).result(timeout=10).shape == (4, 128)
    assert encoder.batches == [1, 4]


def has_room(batcher: EmbeddingBatcher, count: int) -> bool:
    try:
        batcher.check_room(count)
    except Saturated:
        return False
    return True


def test_an_encoder_failure_reaches_every_request_of_its_batch() -> None:
    encoder = GatedEncoder()
    batcher = batcher_for(encoder)
    encoder.hold_first_batch(batcher)
    wrong_size = [batcher.submit(np.zeros((n, 8, 8, 3), np.uint8)) for n in (1, 2)]
    encoder.gate.set()
    for future in wrong_size:
        with pytest.raises(ValueError, match="expected"):
            future.result(timeout=10)
    assert batcher.submit(images(1, seed=2)).result(timeout=10).shape == (1, 128), "the worker lives on"


def test_the_gate_refuses_one_request_too_many_at_once_and_before_the_key_is_checked(
    anonymous: TestClient,
) -> None:
    gate = anonymous.app.state.encoder_cache.gate  # type: ignore[attr-defined]
    inputs = {"inputs": ["aGk="]}
    with ExitStack() as held:
        for _ in range(gate.limit):
            held.enter_context(gate.slot())
        refused = anonymous.post("/v1/models/mdl_any/embed", json=inputs)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert "saturated" in refused.json()["detail"]
    assert anonymous.post("/v1/models/mdl_any/embed", json=inputs).status_code == 401, "free again"


@pytest.fixture
def saturable_api(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The real API under uvicorn taking 32 requests at once, with a tiny queue (4 images) whose batches wait
    50 ms to fill."""
    port = free_port()
    env = {
        **service_env,
        "SELFSUP_PORT": str(port),
        "SELFSUP_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "SELFSUP_EMBED_MAX_REQUESTS": "32",
        "SELFSUP_EMBED_QUEUE_LIMIT": "4",
        "SELFSUP_EMBED_MAX_WAIT_MS": "50",
    }
    api = ServiceProcess("api", env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, api)
        yield url
        assert api.process.poll() is None, api.log()[-3000:]
    finally:
        api.kill()


def trained_model(url: str) -> str:
    """Upload digits and submit a tiny SimCLR job over HTTP; train it here, as a worker would."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60) as http:
        dataset = ingest.upload_ready(http, {"file": ("d.zip", digits_zip(64))}, {"name": "d", "image_size": "16"})
        params = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32}
        spec = {"dataset_id": dataset["id"], "method": "simclr", "params": params}
        job = http.post("/v1/jobs", json=spec).json()
        assert run_job(job["id"], settings=get_settings(), worker_name="test") == "succeeded"
        return str(http.get(f"/v1/jobs/{job['id']}").json()["model_id"])


@pytest.mark.e2e  # a real uvicorn API process
def test_many_clients_get_their_vectors_or_a_prompt_503_with_retry_after(saturable_api: str) -> None:
    model_id = trained_model(saturable_api)
    load = run_load(saturable_api, ADMIN_KEY, model_id, clients=48, seconds=5, images=2)
    result = asyncio.run(load)
    print(f"\n{result.report()}")
    assert not result.errors, result.report()  # each 200 also carried that request's own vectors
    assert len(result.ok_latencies) >= 20, result.report()
    assert result.refused_latencies, "a full queue refuses instead of queueing"
