"""Faults against real processes: a restarting Redis, a restarting API, a short visibility timeout, and an
attempt that fails every time. (A worker killed with SIGKILL mid-epoch is in test_distributed.py.)"""

import re
import time
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import PrivateRedis, Stack, StackFactory
from tests.support.images import digits_zip
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

TINY = {"backbone": "tiny_cnn", "batch_size": 32}


def readiness(stack: Stack) -> Any:
    return stack.client.http.get("/readyz", timeout=10)


def test_redis_restart_loses_neither_running_nor_queued_jobs(
    make_stack: StackFactory, private_redis: PrivateRedis
) -> None:
    stack = make_stack(SELFSUP_BROKER_URL=private_redis.url, SELFSUP_REDISPATCH_QUEUED_AFTER_SECONDS="3")
    dataset = stack.client.upload(digits_zip(128))
    running = stack.client.submit(dataset["id"], {**TINY, "epochs": 12})
    wait_for(
        lambda: stack.client.job(running["id"])["progress"]["step"] > 0,
        timeout=90,
        what="training to start",
        progress=stack.activity(running["id"]),
    )
    queued_before = [stack.client.submit(dataset["id"], {**TINY, "epochs": 1}) for _ in range(2)]

    private_redis.stop()  # an empty Redis comes back: every message waiting in it is gone
    down = wait_for(lambda: (r := readiness(stack)).status_code == 503 and r, timeout=30, what="/readyz to fail")
    assert down.json()["failing"] == ["broker"]
    queued_during = stack.client.submit(dataset["id"], {**TINY, "epochs": 1})
    assert queued_during["status"] == "queued", "a job is accepted while the broker is away"
    private_redis.start()
    wait_for(lambda: readiness(stack).status_code == 200, timeout=60, what="/readyz to recover on its own")

    for job in [running, *queued_before, queued_during]:
        done = stack.client.wait_until(job["id"], timeout=240)
        assert done["status"] == "succeeded" and done["attempts"] == 1, done


def test_an_api_restart_mid_job_loses_nothing(stack: Stack) -> None:
    dataset = stack.client.upload(digits_zip(128))
    job = stack.client.submit(dataset["id"], {**TINY, "epochs": 8})
    wait_for(
        lambda: stack.client.job(job["id"])["progress"]["epoch"] >= 1,
        timeout=90,
        what="an epoch",
        progress=stack.activity(job["id"]),
    )
    assert stack.api is not None
    stack.api.kill()
    stack.start_api()
    done = stack.client.wait_until(job["id"], timeout=180)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    epochs = stack.client.http.get(f"/v1/jobs/{job['id']}/metrics", params={"kind": "epoch"}).json()["points"]
    assert [p["epoch"] for p in epochs] == list(range(1, 9))


def test_a_job_longer_than_the_visibility_timeout_runs_once(make_stack: StackFactory) -> None:
    stack = make_stack(SELFSUP_BROKER_VISIBILITY_TIMEOUT_SECONDS="1")
    dataset = stack.client.upload(digits_zip(256))
    job = stack.client.submit(dataset["id"], {**TINY, "epochs": 30})
    done = stack.client.wait_until(job["id"], timeout=180)
    assert done["status"] == "succeeded"
    ran = datetime.fromisoformat(done["finished_at"]) - datetime.fromisoformat(done["started_at"])
    assert ran.total_seconds() > 2, "the job outlived the 1 s visibility timeout (with room to spare)"
    time.sleep(3)  # give a redelivery, if there were one, the time to arrive
    log = stack.workers[0].log()
    # A redelivery can happen (the ack waits for a fresh pool process to start, longer than 1 s); it must
    # find nothing to claim. Exactly one delivery trains.
    trained = re.findall(r"Task jobs\.train\[[^\]]+\] succeeded in [0-9.]+s: 'succeeded'", log)
    assert len(trained) == 1, "exactly one delivery trained (the worker also ingested the dataset)"
    assert stack.client.job(job["id"])["attempts"] == 1
    assert stack.client.http.get("/v1/models").json()["total"] == 1


def test_an_attempt_that_always_raises_fails_after_the_cap_without_a_redelivery_loop(stack: Stack) -> None:
    dataset = stack.client.upload(digits_zip(64))
    images = stack.data_dir / "blobs" / "datasets" / dataset["id"] / "images.npy"
    images.write_bytes(b"\x93NUMPY garbage, as after a bad disk")
    job = stack.client.submit(dataset["id"], {**TINY, "epochs": 1})
    done = stack.client.wait_until(job["id"], timeout=120)
    assert done["status"] == "failed" and done["attempts"] == 3
    assert "gave up after 3 attempts" in done["error"]
    time.sleep(3)  # a redelivery loop would show up as more deliveries and attempts
    # A doorbell is only a hint: extra ones (the reaper's re-rings, leftovers on the queue) find nothing to claim
    # and end "skipped" without importing torch. Exactly the deliveries that claimed the job trained it.
    outcomes = re.findall(r"Task jobs\.train\[[^\]]+\] succeeded in [0-9.]+s: '(\w+)'", stack.workers[0].log())
    assert sorted(o for o in outcomes if o != "skipped") == ["failed", "requeued", "requeued"], outcomes
    assert stack.client.job(job["id"])["attempts"] == 3, "no more attempts after the cap"
