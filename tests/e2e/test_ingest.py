"""Ingest on real worker processes: a worker killed with SIGKILL mid-ingest is replaced, and the dataset still
ends whole, with nothing half-written left behind."""

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.db import session_factory
from app.jobs.orm import Job
from tests.e2e.conftest import Stack
from tests.support.images import large_gradient_png, zip_bytes
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

# Seconds of decoding on any machine, so that a kill lands mid-ingest: 1024 px PNGs cost about 10 ms each to
# decode. (Camera-sized JPEGs did not: drafted down to the target size, 800 of them decoded in a fraction of a
# second, between two progress writes.)
COUNT = 600


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue  # the process ended while we looked
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, frontier = [], [root]
    while frontier:
        found.extend(kids := children.get(frontier.pop(), []))
        frontier.extend(kids)
    return found


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_worker_killed_mid_ingest_is_replaced_and_the_dataset_ends_whole(stack: Stack) -> None:
    pictures = [large_gradient_png(seed) for seed in range(8)]
    archive = zip_bytes([(f"pictures/{i:04d}.png", pictures[i % 8]) for i in range(COUNT)])
    response = stack.client.http.post(
        "/v1/datasets", files={"file": ("pictures.zip", archive)}, data={"name": "pictures", "image_size": "32"}
    )
    assert response.status_code == 202, response.text
    dataset_id = response.json()["id"]
    worker = stack.workers[0]

    def decoding() -> dict | None:
        dataset = stack.client.dataset(dataset_id)
        assert dataset["status"] == "processing", f"the ingest ended before it could be killed: {dataset}"
        return dataset["progress"] if 0 < (dataset["progress"]["items_done"] or 0) < COUNT else None

    at_kill = wait_for(decoding, timeout=90, what="ingest to start decoding", interval=0.05, progress=worker.work_done)
    # The Celery pool process (daemonic in billiard's sense) still runs a pool of decoding processes, one per core.
    assert len(descendants(worker.process.pid)) >= 1 + len(os.sched_getaffinity(0)), "decoding runs in parallel"
    worker.kill()  # kill -9 of the worker's whole process group, decoders included
    assert stack.client.dataset(dataset_id)["status"] == "processing", at_kill

    stack.start_worker()
    done = stack.client.wait_for_dataset(dataset_id, timeout=120)
    assert done["status"] == "ready", done["error"]
    assert done["num_items"] == COUNT and done["progress"]["items_done"] == COUNT
    with session_factory()() as session:
        job = session.scalars(select(Job).where(Job.dataset_id == dataset_id, Job.kind == "ingest")).one()
    assert job.status == "succeeded" and job.attempts == 2, "the second worker's attempt finished it"

    blobs = stack.data_dir / "blobs"
    assert [p.name for p in (blobs / "datasets").iterdir()] == [dataset_id], "one dataset, published once"
    assert sorted(p.name for p in (blobs / "datasets" / dataset_id).iterdir()) == ["files.json", "images.npy"]
    assert files_under(blobs / ".staging") == [] and files_under(blobs / "uploads") == []
    assert not list((blobs / ".staging").iterdir()), "the killed attempt's staging directory was removed"
