"""selfsup_client against a real API and worker: uploads (whole and resumable), jobs with progress, embeddings
equal to the HTTP route's, errors as exceptions with the server's message, and the server's own 429s retried
as its Retry-After asks, then given up on after the bounded attempts."""

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from selfsup_client import Client, ConflictError, NotFoundError, RateLimitedError, Retry, ValidationError
from tests.e2e.conftest import ADMIN_KEY, Stack, StackFactory
from tests.support.images import digit_pngs, zip_bytes

pytestmark = pytest.mark.e2e
TINY = {"backbone": "tiny_cnn", "batch_size": 32, "epochs": 2}


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    # Leases of 30 s: a worker on a loaded machine is slow to renew them. One active job and one open event
    # stream per tenant: limits the retry checks can fill and free at will.
    return make_stack(
        SELFSUP_LEASE_SECONDS="30", SELFSUP_TENANT_MAX_ACTIVE_JOBS="1", SELFSUP_TENANT_MAX_EVENT_STREAMS="1"
    )


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    with Client(str(stack.client.http.base_url), ADMIN_KEY, max_backoff=1.0) as client:
        yield client


def digits_file(tmp_path: Path, count: int = 64) -> Path:
    path = tmp_path / "digits.zip"
    path.write_bytes(zip_bytes(digit_pngs(count)))
    return path


def test_the_client_against_a_real_api_and_worker(client: Client, stack: Stack, tmp_path: Path) -> None:
    """One stack for all (starting one takes a minute on a loaded machine)."""
    dataset = uploads_whole_and_resumable(client, stack, tmp_path)
    finished = trains_with_progress(client, dataset)
    embeds_as_the_route_does(client, stack, str(finished["model_id"]))
    refusals_become_exceptions_with_the_servers_message(client, dataset)
    retries_what_the_server_refuses_for_now(client, stack, dataset, finished["id"])
    deletes_a_model_once_nothing_uses_it(client, str(finished["model_id"]))


def uploads_whole_and_resumable(client: Client, stack: Stack, tmp_path: Path) -> str:
    archive = digits_file(tmp_path)
    whole = client.datasets.wait_ready(client.datasets.upload(archive, name="whole", image_size=16))
    resumable = client.datasets.upload(archive, name="parts", image_size=16, resumable_above_bytes=1, part_bytes=4096)
    assert client.datasets.wait_ready(resumable)["num_items"] == whole["num_items"] == 64
    assert stack.client.http.get("/v1/uploads").json()["items"][0]["dataset_id"] == resumable["id"]
    return whole["id"]


def trains_with_progress(client: Client, dataset: str) -> dict:
    seen: list[dict] = []
    job = client.jobs.wait(client.jobs.submit(dataset, "simclr", TINY), on_progress=lambda j: seen.append(dict(j)))
    assert job["status"] == "succeeded", job["error"]
    assert seen[-1]["status"] == "succeeded" and len(seen) >= 2, "the callback saw the job change"
    assert client.jobs.metrics(job, kind="epoch"), "the epochs' metrics are there"
    return dict(job)


def embeds_as_the_route_does(client: Client, stack: Stack, model_id: str) -> None:
    images = [png for _, png in digit_pngs(3)]
    vectors = client.models.embed(model_id, images=images)
    route = stack.client.http.post(
        f"/v1/models/{model_id}/embed", json={"inputs": [base64.b64encode(png).decode() for png in images]}
    )
    assert vectors.shape == (3, client.models.get(model_id)["dim"]) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.asarray(route.json()["embeddings"]), atol=1e-6)


def refusals_become_exceptions_with_the_servers_message(client: Client, dataset: str) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.jobs.get("job_missing")
    assert missing.value.status == 404 and "not found" in missing.value.message
    with pytest.raises(ValidationError) as invalid:
        client.jobs.submit(dataset, "simclr", {"epochs": 0})
    assert invalid.value.status == 422 and "epochs" in invalid.value.message


def deletes_a_model_once_nothing_uses_it(client: Client, model_id: str) -> None:
    client.models.set_alias(model_id, "prod")
    with pytest.raises(ConflictError) as in_use:
        client.models.delete(model_id)
    assert in_use.value.status == 409 and "alias 'prod' points at it" in in_use.value.message
    client.models.delete_alias("prod")
    client.models.delete(model_id)
    with pytest.raises(NotFoundError):
        client.models.get(model_id)


def retries_what_the_server_refuses_for_now(client: Client, stack: Stack, dataset: str, finished: str) -> None:
    """A job that would train for hours fills the tenant's one active-job slot, and a stream of its events the
    one event-stream slot. A wait is refused (429, Retry-After 5) until the held stream closes, which the
    client's first retry notice does: it waits the 5 s asked and then succeeds. A submit is refused (429,
    Retry-After 60) for as long as the job runs: the client waits at most max_backoff, gives up after
    max_retries and raises with the server's status and message. The server counted every refusal."""
    url = str(stack.client.http.base_url)
    busy = client.jobs.submit(dataset, "simclr", {**TINY, "epochs": 10_000})
    refused_before = refusals(url)
    with stack.client.http.stream("GET", f"/v1/jobs/{busy['id']}/events") as held:
        assert held.status_code == 200, held.read()
        freed: list[Retry] = []

        def free_the_slot(retry: Retry) -> None:
            freed.append(retry)
            held.close()

        with Client(url, ADMIN_KEY, on_retry=free_the_slot) as patient:
            assert patient.jobs.wait(finished)["status"] == "succeeded"
    assert [(r.status, r.attempt, r.retry_after, r.delay) for r in freed] == [(429, 1, 5.0, 5.0)], freed
    assert "event streams open" in freed[0].message and freed[0].path == f"/v1/jobs/{finished}/events"

    gave_up: list[Retry] = []
    hasty = Client(url, ADMIN_KEY, max_retries=2, max_backoff=0.05, on_retry=gave_up.append)
    with hasty, pytest.raises(RateLimitedError) as refused:
        hasty.jobs.submit(dataset, "simclr", TINY)
    assert refused.value.status == 429 and "too many active jobs" in refused.value.message, refused.value
    assert [(r.attempt, r.retry_after, r.delay) for r in gave_up] == [(1, 60.0, 0.05), (2, 60.0, 0.05)], gave_up
    assert refusals(url) - refused_before == 1 + 3, "one refused stream, then three refused submits"
    client.jobs.cancel(busy)


def refusals(url: str) -> float:
    """The API's count of 429s for a tenant's quota (its /metrics answers this host without a token)."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=30).text):
        for sample in family.samples:
            if sample.name == "selfsup_refusals_total" and sample.labels == {
                "reason": "quota_exceeded",
                "status": "429",
            }:
                return sample.value
    return 0.0
