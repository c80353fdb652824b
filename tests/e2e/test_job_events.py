"""Live job events and /metrics on a real uvicorn, with the job trained by the worker's own code in this process."""

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import get_settings
from tests.conftest import new_key
from tests.support import ingest
from tests.support.api_process import Api, start_api  # noqa: F401 (the fixture)
from tests.support.images import digits_zip
from tests.support.processes import wait_for
from worker.training import run_job

TINY = {"backbone": "tiny_cnn", "epochs": 2, "batch_size": 16}


def read_events(client: httpx.Client, job_id: str, events: list[tuple[str, Any]], opened: threading.Event) -> None:
    """Append (type, data) of every event until the server closes the stream; ``opened`` is set once the first
    event has arrived. Not at the headers: the server reads the job only after sending them, so a job claimed in
    between would open the stream as running (seen once in CI)."""
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((str(kind), json.loads(line.removeprefix("data: "))))
                opened.set()


def samples(api: Api, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(f"{api.url}/metrics", timeout=10).text  # from 127.0.0.1 and no token set: allowed
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_events_follow_a_job_to_its_end_and_metrics_count_it(start_api: Callable[..., Api]) -> None:  # noqa: F811
    api = start_api(SELFSUP_TENANT_MAX_EVENT_STREAMS="1", SELFSUP_METRICS_JOBS_CACHE_SECONDS="0")
    secret = new_key("acme")
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    dataset = ingest.upload_ready(client, {"file": ("d.zip", digits_zip(48))}, {"name": "d", "image_size": "16"})
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", "params": TINY}).json()

    other = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {new_key('rival')}"})
    assert other.get(f"/v1/jobs/{job['id']}/events").status_code == 404

    events: list[tuple[str, Any]] = []
    opened = threading.Event()
    reader = threading.Thread(target=read_events, args=(client, job["id"], events, opened))
    reader.start()
    assert opened.wait(30)
    capped = client.get(f"/v1/jobs/{job['id']}/events", params={"api_key": secret})  # a key where none belongs
    assert capped.status_code == 429, capped.text
    assert run_job(job["id"], settings=get_settings(), worker_name="test") == "succeeded"
    reader.join(timeout=60)
    assert not reader.is_alive(), "the stream did not close at the job's end"

    kinds = [kind for kind, _ in events]
    assert kinds[0] == "job" and events[0][1]["status"] == "queued"
    assert kinds[-1] == "end" and events[-1][1]["status"] == "succeeded" and events[-1][1]["model_id"]
    statuses = [data["status"] for kind, data in events if kind == "job"]  # a job event on every change
    changes = [s for i, s in enumerate(statuses) if statuses[i - 1 : i] != [s]]
    # "running" shows unless the whole run fits between two polls (a starved API thread on a busy machine)
    assert changes in (["queued", "running", "succeeded"], ["queued", "succeeded"]), changes
    points = [data for kind, data in events if kind == "metric"]
    assert [p["kind"] for p in points if p["kind"] != "step"] == ["epoch", "epoch", "final"]
    assert [p["step"] for p in points] == sorted(p["step"] for p in points)

    assert samples(api, "selfsup_jobs")[(("kind", "train"), ("status", "succeeded"))] == 1
    route = (("method", "GET"), ("route", "/v1/jobs/{job_id}/events"))
    requests = samples(api, "selfsup_http_requests_total")
    assert requests[(*route[:1], route[1], ("status", "429"))] == 1
    assert requests[(*route[:1], route[1], ("status", "404"))] == 1
    assert samples(api, "selfsup_refusals_total")[(("reason", "quota_exceeded"), ("status", "429"))] == 1

    def access_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in api.process.log().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("event") == "request"]

    wait_for(lambda: len(access_lines()) >= 6, timeout=30, what="the access log lines")
    assert "ssk_" not in api.process.log()
    refused = [line for line in access_lines() if line["status"] == 429]
    assert refused[0]["tenant"] == "acme" and refused[0]["route"] == "/v1/jobs/{job_id}/events"
    assert refused[0]["request_id"] == capped.headers["x-request-id"]
