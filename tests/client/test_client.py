"""selfsup_client against a real API and worker: uploads (whole and resumable), jobs with progress, embeddings
equal to the HTTP route's, errors as exceptions with the server's message."""

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from selfsup_client import Client, NotFoundError, ValidationError
from tests.e2e.conftest import ADMIN_KEY, Stack, StackFactory
from tests.support.images import digit_pngs, zip_bytes

pytestmark = pytest.mark.e2e
TINY = {"backbone": "tiny_cnn", "batch_size": 32, "epochs": 2}


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    return make_stack(SELFSUP_LEASE_SECONDS="30")  # a worker on a loaded machine is slow to renew leases


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
    model_id = trains_with_progress(client, dataset)
    embeds_as_the_route_does(client, stack, model_id)
    refusals_become_exceptions_with_the_servers_message(client, dataset)


def uploads_whole_and_resumable(client: Client, stack: Stack, tmp_path: Path) -> str:
    archive = digits_file(tmp_path)
    whole = client.datasets.wait_ready(client.datasets.upload(archive, name="whole", image_size=16))
    resumable = client.datasets.upload(archive, name="parts", image_size=16, resumable_above_bytes=1, part_bytes=4096)
    assert client.datasets.wait_ready(resumable)["num_items"] == whole["num_items"] == 64
    assert stack.client.http.get("/v1/uploads").json()["items"][0]["dataset_id"] == resumable["id"]
    return whole["id"]


def trains_with_progress(client: Client, dataset: str) -> str:
    seen: list[dict] = []
    job = client.jobs.wait(client.jobs.submit(dataset, "simclr", TINY), on_progress=lambda j: seen.append(dict(j)))
    assert job["status"] == "succeeded", job["error"]
    assert seen[-1]["status"] == "succeeded" and len(seen) >= 2, "the callback saw the job change"
    assert client.jobs.metrics(job, kind="epoch"), "the epochs' metrics are there"
    return str(job["model_id"])


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
