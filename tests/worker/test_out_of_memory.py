"""A job that runs out of memory fails at once with advice, instead of being retried with the same batch.

The worker runs in a subprocess whose address space is capped (RLIMIT_AS) just above what it holds before
training: its first big batch then fails in torch's real CPU allocator, without touching the machine's memory.
"""

import os
import subprocess
import sys

from fastapi.testclient import TestClient

from tests.support import ingest
from tests.support.images import digits_zip

CAPPED_WORKER = """
import resource, sys
from app.core.config import get_settings
from worker.training import run_job  # torch and the engine are imported before the cap

size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + 768 * 1024**2, resource.RLIM_INFINITY))
print(run_job(sys.argv[1], settings=get_settings(), worker_name="capped"))
"""


def test_out_of_memory_fails_the_first_attempt_with_a_smaller_batch_to_try(
    client: TestClient, service_env: dict[str, str]
) -> None:
    dataset = ingest.upload_ready(client, {"file": ("d.zip", digits_zip(256))}, {"name": "d", "image_size": "32"})
    params = {"backbone": "resnet18", "epochs": 1, "batch_size": 256}
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", "params": params}).json()[
        "id"
    ]
    env = {**os.environ, **service_env, "OMP_NUM_THREADS": "1", "SELFSUP_DEVICE": "cpu"}  # the cap is for the CPU
    run = subprocess.run([sys.executable, "-c", CAPPED_WORKER, job_id], env=env, capture_output=True, text=True)
    assert run.stdout.strip().splitlines()[-1:] == ["failed"], run.stdout + run.stderr
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["attempts"] == 1, job
    assert job["error"] == "out of memory on cpu at batch_size 256: try 128"
